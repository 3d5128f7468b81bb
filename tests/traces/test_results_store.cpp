// The sweep results store (SQLite, WAL): round trips with breakdowns and host facts, first record
// wins, rejection of foreign files, merging shards, the JSON form ranks ship records in, the CSV
// export, and a writer killed mid-batch.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "traces/csv_text.h"
#include "traces/number_text.h"
#include "traces/results_store.h"

namespace coda {
namespace {

using test::expect_bad_input;
using traces::ResultsStore;
using traces::SweepRecord;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A double with all 52 fraction bits random, so any rounding on the way shows.
double full_precision(std::mt19937_64& random, double scale) {
  return scale * std::uniform_real_distribution<double>(0.5, 2.0)(random);
}

std::string hex_key(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value * 0x9E3779B97F4A7C15ull));
  return text;
}

// Record `i` of a made-up sweep; every 7th one failed to evaluate.
SweepRecord sample_record(int i) {
  std::mt19937_64 random(1000 + i);
  SweepRecord record;
  record.key = hex_key(i + 1);
  record.index = i;
  record.point = "{\"gpu.freq_mhz\":\"" + std::to_string(600 + 100 * (i % 8)) + ".5\",\"batch\":" +
                 std::to_string(1 << (i % 4)) + ",\"network\":\"zoo:resnet18\"}";
  if (i % 7 == 3) {
    record.status = "error";
    record.error = "point " + std::to_string(i) + ": \"gpu\" clock, out of range\nsecond line";
    record.latency_s = record.energy_j = record.ops_energy_j = record.idle_energy_j = kNaN;
    record.avg_power_w = record.peak_temp_c = kNaN;
  } else {
    record.latency_s = full_precision(random, 1e-3);
    record.energy_j = full_precision(random, 5e-2);
    record.ops_energy_j = full_precision(random, 3e-2);
    record.idle_energy_j = record.energy_j - record.ops_energy_j;
    record.avg_power_w = record.energy_j / record.latency_s;
    record.peak_temp_c = full_precision(random, 45);
    record.simulated_cycles = 1000000 + 7919 * i;
    record.breakdown["unit_energy_j"]["gpu"] = full_precision(random, 1e-2);
    record.breakdown["unit_energy_j"]["dla0"] = full_precision(random, 1e-3);
    record.breakdown["utilisation"]["gpu"] = full_precision(random, 0.4);
    record.breakdown["rail_power_w"]["VDD_IN"] = full_precision(random, 10);
    if (i % 2 == 0) record.breakdown["component_energy_j"]["dram.read"] = full_precision(random, 1e-4);
  }
  record.wall_s = full_precision(random, 0.25);
  record.rank = i % 3;
  return record;
}

std::vector<SweepRecord> sample_records(int first, int count) {
  std::vector<SweepRecord> records;
  for (int i = first; i < first + count; ++i) records.push_back(sample_record(i));
  return records;
}

void expect_same_records(const std::vector<SweepRecord>& actual, const std::vector<SweepRecord>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_TRUE(actual[i].same_result(expected[i])) << "record " << i << " (" << expected[i].key << ")";
    EXPECT_EQ(actual[i].wall_s, expected[i].wall_s) << expected[i].key;
    EXPECT_EQ(actual[i].rank, expected[i].rank) << expected[i].key;
  }
}

// A direct SQLite connection, to look at (or tamper with) a file behind the store's back.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
  }
  ~RawDatabase() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) ADD_FAILURE() << sql << ": " << message;
    sqlite3_free(message);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW)
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(ResultsStore, ReopenedStoreReturnsRecordsBreakdownsHostFactsAndMeta) {
  test::TempDir dir;
  std::vector<SweepRecord> records = sample_records(0, 12);
  records[5].index = records[4].index;  // equal indices are ordered by key
  std::vector<SweepRecord> written = records;
  std::reverse(written.begin(), written.end());
  {
    ResultsStore store(dir.file("results.sqlite"));
    EXPECT_EQ(store.count(), 0);
    store.set_meta({{"sweep_id", "abc123"}, {"spec", "{\"axes\":[]}"}});
    store.set_meta({{"spec", "{\"axes\":[1]}"}});
    EXPECT_EQ(store.write_batch(std::vector<SweepRecord>(written.begin(), written.begin() + 5)), 5);
    EXPECT_EQ(store.write_batch(std::vector<SweepRecord>(written.begin() + 5, written.end())), 7);
  }
  ResultsStore store(dir.file("results.sqlite"), /*create=*/false);
  EXPECT_EQ(store.count(), 12);
  EXPECT_EQ(store.meta("sweep_id"), "abc123");
  EXPECT_EQ(store.meta("spec"), "{\"axes\":[1]}");
  EXPECT_EQ(store.meta("no such key"), std::nullopt);
  EXPECT_EQ(store.all_meta().at("format"), "coda-sweep");
  EXPECT_EQ(store.all_meta().at("sweep_id"), "abc123");

  std::vector<SweepRecord> expected = records;
  std::stable_sort(expected.begin(), expected.end(), [](const SweepRecord& a, const SweepRecord& b) {
    return a.index != b.index ? a.index < b.index : a.key < b.key;
  });
  expect_same_records(store.read_all(), expected);
  EXPECT_TRUE(std::isnan(store.read_all()[3].latency_s));  // an error record's metrics stay NaN
  std::unordered_set<std::string> keys;
  for (const SweepRecord& record : records) keys.insert(record.key);
  EXPECT_EQ(store.stored_keys(), keys);
}

TEST(ResultsStore, KeyAlreadyStoredKeepsItsFirstRecord) {
  test::TempDir dir;
  ResultsStore store(dir.file("results.sqlite"));
  std::vector<SweepRecord> first = sample_records(0, 4);
  EXPECT_EQ(store.write_batch(first), 4);

  std::vector<SweepRecord> again = sample_records(2, 4);  // records 2 and 3 are stored already
  for (SweepRecord& record : again) {
    record.latency_s = 99;
    record.breakdown["unit_busy_s"]["gpu"] = 1;
    record.wall_s = 1234;
  }
  SweepRecord duplicate_in_batch = again.back();
  duplicate_in_batch.energy_j = -1;
  again.push_back(duplicate_in_batch);
  EXPECT_EQ(store.write_batch(again), 2);
  EXPECT_EQ(store.write_batch(again), 0);
  EXPECT_EQ(store.count(), 6);

  std::vector<SweepRecord> expected = first;
  expected.push_back(again[2]);
  expected.push_back(again[3]);
  expect_same_records(store.read_all(), expected);
}

TEST(ResultsStore, UsesWriteAheadLogSoReadersDoNotBlockTheWriter) {
  test::TempDir dir;
  ResultsStore store(dir.file("results.sqlite"));
  store.write_batch(sample_records(0, 3));
  RawDatabase reader(dir.file("results.sqlite"));
  EXPECT_EQ(reader.text("PRAGMA journal_mode"), "wal");
  // An open read transaction would make a rollback-journal writer wait (then fail "locked").
  reader.exec("BEGIN");
  EXPECT_EQ(reader.text("SELECT count(*) FROM points"), "3");
  EXPECT_EQ(store.write_batch(sample_records(3, 2)), 2);
  EXPECT_EQ(reader.text("SELECT count(*) FROM points"), "3");  // its snapshot
  reader.exec("COMMIT");
  EXPECT_EQ(reader.text("SELECT count(*) FROM points"), "5");
}

TEST(ResultsStore, RejectsFilesThatAreNotCodaSweepDatabases) {
  test::TempDir dir;
  std::string missing = dir.file("missing.sqlite");
  expect_bad_input([&] { ResultsStore store(missing, /*create=*/false); }, {missing + ": no such file"});
  EXPECT_EQ(dir.entries().count("missing.sqlite"), 0u);

  std::string text = dir.file("notes.txt");
  test::write_bytes(text, "these are not the results you are looking for\n" + std::string(4000, 'x'));
  expect_bad_input([&] { ResultsStore store(text); }, {text + ": not a coda sweep database ("});
  EXPECT_EQ(test::read_bytes(text).substr(0, 9), "these are");

  std::string foreign = dir.file("foreign.sqlite");
  {
    RawDatabase raw(foreign);
    raw.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT); CREATE TABLE other(x INTEGER)");
  }
  expect_bad_input([&] { ResultsStore store(foreign); }, {foreign + ": not a coda sweep database ("});
  EXPECT_EQ(RawDatabase(foreign).text("PRAGMA journal_mode"), "delete");  // left as it was

  std::string newer = dir.file("newer.sqlite");
  { ResultsStore store(newer); }
  RawDatabase(newer).exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  expect_bad_input([&] { ResultsStore store(newer); }, {newer + ": not a coda sweep database (", "schema version 2"});

  std::string empty = dir.file("empty.sqlite");
  test::write_bytes(empty, "");
  expect_bad_input([&] { ResultsStore store(empty, /*create=*/false); }, {empty + ": not a coda sweep database ("});
}

TEST(ResultsStore, MergedShardsEqualOneStoreWithEveryRecord) {
  test::TempDir dir;
  std::vector<SweepRecord> all = sample_records(0, 20);
  std::vector<SweepRecord> shard_a, shard_b;
  for (const SweepRecord& record : all) {
    if (record.index % 2 == 0 || record.index < 4) shard_a.push_back(record);  // 0..3 in both
    if (record.index % 2 == 1 || record.index < 4) shard_b.push_back(record);
  }
  for (auto [name, records] : {std::pair{"a.sqlite", shard_a}, std::pair{"b.sqlite", shard_b}}) {
    ResultsStore shard(dir.file(name));
    shard.set_meta({{"sweep_id", "sweep-1"}, {"spec", "{}"}});
    shard.write_batch(records);
  }
  {
    ResultsStore other(dir.file("other.sqlite"));
    other.set_meta({{"sweep_id", "sweep-2"}});
    other.write_batch(sample_records(20, 2));
  }

  ResultsStore merged(dir.file("merged.sqlite"));
  EXPECT_EQ(merged.merge_from(dir.file("a.sqlite")), static_cast<int64_t>(shard_a.size()));
  EXPECT_EQ(merged.meta("sweep_id"), "sweep-1");
  EXPECT_EQ(merged.meta("spec"), "{}");
  EXPECT_EQ(merged.merge_from(dir.file("b.sqlite")), static_cast<int64_t>(all.size() - shard_a.size()));
  EXPECT_EQ(merged.merge_from(dir.file("b.sqlite")), 0);

  ResultsStore single(dir.file("single.sqlite"));
  single.write_batch(all);
  expect_same_records(merged.read_all(), single.read_all());
  expect_same_records(merged.read_all(), all);

  expect_bad_input([&] { merged.merge_from(dir.file("other.sqlite")); },
                   {dir.file("other.sqlite") + ": holds another sweep", "sweep-2"});
  std::string text = dir.file("notes.txt");
  test::write_bytes(text, std::string(2000, 'y'));
  expect_bad_input([&] { merged.merge_from(text); }, {text + ": not a coda sweep database ("});
  expect_bad_input([&] { merged.merge_from(dir.file("nope.sqlite")); }, {dir.file("nope.sqlite") + ": no such file"});
  EXPECT_EQ(merged.count(), static_cast<int64_t>(all.size()));
}

TEST(SweepRecordJson, RoundTripsEveryFieldExactly) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 200; ++i) {
    SweepRecord record = sample_record(i);
    // Any finite bit pattern, subnormals and extremes included.
    double bits_value;
    do {
      uint64_t bits = random();
      std::memcpy(&bits_value, &bits, sizeof bits);
    } while (!std::isfinite(bits_value));
    record.peak_temp_c = bits_value;
    record.simulated_cycles = static_cast<int64_t>(random());
    std::string text = traces::sweep_record_to_json(record);
    SweepRecord back = traces::sweep_record_from_json(text, "rank 1");
    EXPECT_TRUE(back.same_result(record)) << text;
    EXPECT_EQ(back.wall_s, record.wall_s);
    EXPECT_EQ(back.rank, record.rank);
  }
  SweepRecord failed = sample_record(3);
  ASSERT_TRUE(std::isnan(failed.latency_s));
  EXPECT_NE(traces::sweep_record_to_json(failed).find("\"latency_s\":null"), std::string::npos);
  EXPECT_TRUE(std::isnan(traces::sweep_record_from_json(traces::sweep_record_to_json(failed), "x").latency_s));

  expect_bad_input([] { traces::sweep_record_from_json("{\"key\": 1", "rank 3"); }, {"rank 3: ", "not valid JSON"});
  expect_bad_input([] { traces::sweep_record_from_json("[1]", "rank 3"); }, {"rank 3: ", "not a JSON object"});
  std::string without_energy = traces::sweep_record_to_json(sample_record(0));
  without_energy.replace(without_energy.find("\"energy_j\""), 10, "\"energy_x\"");
  expect_bad_input([&] { traces::sweep_record_from_json(without_energy, "rank 2"); }, {"rank 2: ", "'energy_j'"});
}

TEST(SameResult, ComparesEveryResultFieldButNotHostFacts) {
  SweepRecord a = sample_record(1);
  SweepRecord b = a;
  b.wall_s += 1;
  b.rank += 1;
  EXPECT_TRUE(a.same_result(b));
  b.energy_j = std::nextafter(b.energy_j, 1.0);
  EXPECT_FALSE(a.same_result(b));
  b = a;
  b.breakdown["utilisation"]["gpu"] = std::nextafter(b.breakdown["utilisation"]["gpu"], 0.0);
  EXPECT_FALSE(a.same_result(b));
  b = a;
  b.breakdown["utilisation"]["dla1"] = 0;
  EXPECT_FALSE(a.same_result(b));
  b = a;
  b.point += " ";
  EXPECT_FALSE(a.same_result(b));
  EXPECT_TRUE(sample_record(3).same_result(sample_record(3)));  // NaN metrics equal themselves
}

TEST(SweepCsv, WritesAxesMetricsAndBreakdownColumnsThatParseBack) {
  test::TempDir dir;
  std::vector<SweepRecord> records = sample_records(0, 5);
  records[0].point = "{\"gpu.freq_mhz\":\"1300.5\",\"batch\":4,\"network\":\"zoo:resnet18, v2\"}";
  std::string path = dir.file("results.csv");
  traces::write_sweep_csv(records, {"gpu.freq_mhz", "batch", "network", "dla.mode"}, path);

  std::vector<traces::CsvRecord> rows = traces::parse_csv(test::read_bytes(path), 1, path);
  ASSERT_EQ(rows.size(), records.size() + 1);
  std::vector<std::string> header = {"gpu.freq_mhz", "batch", "network", "dla.mode", "key", "index", "status",
                                     "error", "latency_s", "energy_j", "ops_energy_j", "idle_energy_j",
                                     "avg_power_w", "peak_temp_c", "simulated_cycles", "edp_js",
                                     "component_energy_j.dram.read", "rail_power_w.VDD_IN", "unit_energy_j.dla0",
                                     "unit_energy_j.gpu", "utilisation.gpu"};
  EXPECT_EQ(rows[0].fields, header);
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  auto number = [](const std::string& cell) { return traces::parse_finite(cell).value_or(-12345); };
  for (std::size_t r = 0; r < records.size(); ++r) {
    const SweepRecord& record = records[r];
    const std::vector<std::string>& cells = rows[r + 1].fields;
    ASSERT_EQ(cells.size(), header.size()) << "row " << r;
    EXPECT_EQ(cells[column("key")], record.key);
    EXPECT_EQ(cells[column("index")], std::to_string(record.index));
    EXPECT_EQ(cells[column("status")], record.status);
    EXPECT_EQ(cells[column("error")], record.error);
    EXPECT_EQ(cells[column("dla.mode")], "");
    EXPECT_EQ(cells[column("simulated_cycles")], std::to_string(record.simulated_cycles));
    if (record.status == "ok") {
      EXPECT_EQ(number(cells[column("latency_s")]), record.latency_s);
      EXPECT_EQ(number(cells[column("idle_energy_j")]), record.idle_energy_j);
      EXPECT_EQ(number(cells[column("peak_temp_c")]), record.peak_temp_c);
      EXPECT_EQ(number(cells[column("edp_js")]), record.energy_j * record.latency_s);
      EXPECT_EQ(number(cells[column("unit_energy_j.dla0")]), record.breakdown.at("unit_energy_j").at("dla0"));
      EXPECT_EQ(cells[column("component_energy_j.dram.read")] == "", record.index % 2 == 1);
    } else {
      EXPECT_EQ(cells[column("latency_s")], "");
      EXPECT_EQ(cells[column("edp_js")], "");
      EXPECT_EQ(cells[column("utilisation.gpu")], "");
    }
  }
  EXPECT_EQ(rows[1].fields[0], "1300.5");
  EXPECT_EQ(rows[1].fields[1], "4");
  EXPECT_EQ(rows[1].fields[2], "zoo:resnet18, v2");
  EXPECT_EQ(rows[2].fields[0], "700.5");
  EXPECT_EQ(records[3].error.find_first_of(",\"\n") != std::string::npos, true);  // quoting was needed

  std::string unwritable = dir.file("no/such/dir/results.csv");
  expect_bad_input([&] { traces::write_sweep_csv(records, {}, unwritable); }, {unwritable + ": cannot write"});
}

// A writer killed at any moment leaves a database that opens and holds whole batches only: each
// round starts a child that resumes the sweep where the file stands and kills it a few
// milliseconds after its first commit.
TEST(ResultsStore, KilledWriterLeavesOnlyWholeBatches) {
  test::TempDir dir;
  std::string path = dir.file("results.sqlite");
  constexpr int kBatch = 16;
  std::mt19937 random(11);
  for (int round = 0; round < 4; ++round) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      try {
        ResultsStore store(path);
        for (int64_t next = store.count();; next += kBatch) {
          store.write_batch(sample_records(static_cast<int>(next), kBatch));
          if (ready[1] >= 0 && ::write(ready[1], "x", 1) == 1) ready[1] = -1;
        }
      } catch (...) {
      }
      ::_exit(1);
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::usleep(std::uniform_int_distribution<int>(0, 20000)(random));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(ready[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped on its own";

    ResultsStore store(path, /*create=*/false);
    int64_t count = store.count();
    EXPECT_GT(count, 0);
    EXPECT_EQ(count % kBatch, 0) << "round " << round;
    expect_same_records(store.read_all(), sample_records(0, static_cast<int>(count)));
  }
}

}  // namespace
}  // namespace coda
