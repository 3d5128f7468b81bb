#include "traces/results_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "kernels/error.h"

namespace coda::traces {
namespace {

constexpr const char* kFormat = "coda-sweep";
constexpr int kSchemaVersion = 1;
// Two writers (a sweep and a merge into the same file) wait for each other this long before one
// gives up with "database is locked".
constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS points(key TEXT PRIMARY KEY, idx INTEGER, point TEXT, status TEXT, error TEXT,
  latency_s REAL, energy_j REAL, ops_energy_j REAL, idle_energy_j REAL, avg_power_w REAL,
  peak_temp_c REAL, simulated_cycles INTEGER);
CREATE INDEX IF NOT EXISTS points_by_idx ON points(idx);
CREATE TABLE IF NOT EXISTS breakdown(key TEXT, kind TEXT, name TEXT, value REAL,
  PRIMARY KEY(key, kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS host(key TEXT PRIMARY KEY, wall_s REAL, rank INTEGER);
)sql";

constexpr const char* kPointColumns =
    "key, idx, point, status, error, latency_s, energy_j, ops_energy_j, idle_energy_j, avg_power_w, "
    "peak_temp_c, simulated_cycles";

bool same_double(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

[[noreturn]] void fail(const std::string& path, const std::string& problem) { throw BadInput(path + ": " + problem); }

[[noreturn]] void not_a_sweep_database(const std::string& path, const std::string& why) {
  fail(path, "not a coda sweep database (" + why + ")");
}

// Owns an open connection; closes it however the constructor that opened it exits.
class Connection {
 public:
  Connection(const std::string& path, int flags) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      fail(path, "cannot open (" + message + ")");
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  }
  ~Connection() { sqlite3_close(db_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  sqlite3* release() { return std::exchange(db_, nullptr); }

 private:
  sqlite3* db_ = nullptr;
};

[[noreturn]] void database_error(sqlite3* db, const std::string& path) {
  fail(path, std::string("database error (") + sqlite3_errmsg(db) + ")");
}

void execute(sqlite3* db, const std::string& path, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) database_error(db, path);
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const std::string& sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement_, nullptr) != SQLITE_OK) database_error(db, path);
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // True while there is a row to read; false when done.
  bool step() {
    int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    database_error(db_, path_);
  }
  void run() {
    step();
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  void bind(int at, const std::string& text) {
    check(sqlite3_bind_text(statement_, at, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void bind(int at, int64_t value) { check(sqlite3_bind_int64(statement_, at, value)); }
  // NaN goes in as NULL (SQLite has no NaN) and comes back as NaN from real().
  void bind(int at, double value) {
    check(std::isnan(value) ? sqlite3_bind_null(statement_, at) : sqlite3_bind_double(statement_, at, value));
  }

  std::string text(int column) const {
    const unsigned char* bytes = sqlite3_column_text(statement_, column);
    return bytes ? std::string(reinterpret_cast<const char*>(bytes), sqlite3_column_bytes(statement_, column)) : "";
  }
  int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
  double real(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(statement_, column);
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) database_error(db_, path_);
  }
  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* statement_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half-way for a lock
// another writer holds (busy_timeout waits for it instead); rolled back unless committed.
class WriteTransaction {
 public:
  WriteTransaction(sqlite3* db, const std::string& path) : db_(db), path_(path) {
    execute(db, path, "BEGIN IMMEDIATE");
  }
  ~WriteTransaction() {
    if (!committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit() {
    execute(db_, path_, "COMMIT");
    committed_ = true;
  }

 private:
  sqlite3* db_;
  std::string path_;
  bool committed_ = false;
};

std::vector<std::string> table_names(sqlite3* db, const std::string& path) {
  sqlite3_stmt* statement = nullptr;
  // The first read of the file is where SQLite finds out that it is not a database at all.
  if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &statement, nullptr) !=
      SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_finalize(statement);
    not_a_sweep_database(path, message);
  }
  std::vector<std::string> names;
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW)
    names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
  std::string message = sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) not_a_sweep_database(path, message);
  return names;
}

std::map<std::string, std::string> read_meta(sqlite3* db, const std::string& path) {
  std::map<std::string, std::string> values;
  Statement select(db, path, "SELECT key, value FROM meta");
  while (select.step()) values[select.text(0)] = select.text(1);
  return values;
}

// Accepts only a database this code wrote (or an older schema it still reads).
void check_sweep_database(sqlite3* db, const std::string& path) {
  std::vector<std::string> tables = table_names(db, path);
  for (const char* table : {"meta", "points", "breakdown", "host"})
    if (std::find(tables.begin(), tables.end(), table) == tables.end())
      not_a_sweep_database(path, tables.empty() ? "empty database" : std::string("no '") + table + "' table");
  std::map<std::string, std::string> meta;
  try {
    meta = read_meta(db, path);
  } catch (const BadInput&) {
    not_a_sweep_database(path, "unreadable meta table");
  }
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kFormat)
    not_a_sweep_database(path, "format is not '" + std::string(kFormat) + "'");
  auto version = meta.find("schema_version");
  int schema_version = 0;
  try {
    if (version != meta.end()) schema_version = std::stoi(version->second);
  } catch (const std::exception&) {
  }
  if (schema_version < 1) not_a_sweep_database(path, "no schema version");
  if (schema_version > kSchemaVersion)
    not_a_sweep_database(path, "schema version " + std::to_string(schema_version) + " is newer than this coda reads (" +
                                   std::to_string(kSchemaVersion) + ")");
}

std::vector<SweepRecord> read_records(sqlite3* db, const std::string& path) {
  std::vector<SweepRecord> records;
  std::unordered_map<std::string, std::size_t> position;
  Statement points(db, path, std::string("SELECT ") + kPointColumns + " FROM points ORDER BY idx, key");
  while (points.step()) {
    SweepRecord record;
    record.key = points.text(0);
    record.index = points.integer(1);
    record.point = points.text(2);
    record.status = points.text(3);
    record.error = points.text(4);
    record.latency_s = points.real(5);
    record.energy_j = points.real(6);
    record.ops_energy_j = points.real(7);
    record.idle_energy_j = points.real(8);
    record.avg_power_w = points.real(9);
    record.peak_temp_c = points.real(10);
    record.simulated_cycles = points.integer(11);
    position.emplace(record.key, records.size());
    records.push_back(std::move(record));
  }
  Statement breakdown(db, path, "SELECT key, kind, name, value FROM breakdown");
  while (breakdown.step()) {
    auto found = position.find(breakdown.text(0));
    if (found != position.end())
      records[found->second].breakdown[breakdown.text(1)][breakdown.text(2)] = breakdown.real(3);
  }
  Statement host(db, path, "SELECT key, wall_s, rank FROM host");
  while (host.step()) {
    auto found = position.find(host.text(0));
    if (found == position.end()) continue;
    records[found->second].wall_s = host.real(1);
    records[found->second].rank = static_cast<int>(host.integer(2));
  }
  return records;
}

// Inside the caller's transaction.
int64_t insert_records(sqlite3* db, const std::string& path, const std::vector<SweepRecord>& records) {
  Statement point(db, path,
                  std::string("INSERT OR IGNORE INTO points(") + kPointColumns +
                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  Statement breakdown(db, path, "INSERT OR REPLACE INTO breakdown(key, kind, name, value) VALUES (?, ?, ?, ?)");
  Statement host(db, path, "INSERT OR REPLACE INTO host(key, wall_s, rank) VALUES (?, ?, ?)");
  int64_t inserted = 0;
  for (const SweepRecord& record : records) {
    point.bind(1, record.key);
    point.bind(2, record.index);
    point.bind(3, record.point);
    point.bind(4, record.status);
    point.bind(5, record.error);
    point.bind(6, record.latency_s);
    point.bind(7, record.energy_j);
    point.bind(8, record.ops_energy_j);
    point.bind(9, record.idle_energy_j);
    point.bind(10, record.avg_power_w);
    point.bind(11, record.peak_temp_c);
    point.bind(12, record.simulated_cycles);
    point.run();
    if (sqlite3_changes(db) == 0) continue;  // the key was stored already: its first record stays
    ++inserted;
    for (const auto& [kind, values] : record.breakdown)
      for (const auto& [name, value] : values) {
        breakdown.bind(1, record.key);
        breakdown.bind(2, kind);
        breakdown.bind(3, name);
        breakdown.bind(4, value);
        breakdown.run();
      }
    host.bind(1, record.key);
    host.bind(2, record.wall_s);
    host.bind(3, static_cast<int64_t>(record.rank));
    host.run();
  }
  return inserted;
}

void write_meta(sqlite3* db, const std::string& path, const std::map<std::string, std::string>& values) {
  Statement upsert(db, path, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
  for (const auto& [key, value] : values) {
    upsert.bind(1, key);
    upsert.bind(2, value);
    upsert.run();
  }
}

// --- JSON ---

nlohmann::json number_json(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

bool SweepRecord::same_result(const SweepRecord& other) const {
  if (key != other.key || index != other.index || point != other.point || status != other.status ||
      error != other.error || simulated_cycles != other.simulated_cycles)
    return false;
  if (!same_double(latency_s, other.latency_s) || !same_double(energy_j, other.energy_j) ||
      !same_double(ops_energy_j, other.ops_energy_j) || !same_double(idle_energy_j, other.idle_energy_j) ||
      !same_double(avg_power_w, other.avg_power_w) || !same_double(peak_temp_c, other.peak_temp_c))
    return false;
  if (breakdown.size() != other.breakdown.size()) return false;
  for (const auto& [kind, values] : breakdown) {
    auto theirs = other.breakdown.find(kind);
    if (theirs == other.breakdown.end() || theirs->second.size() != values.size()) return false;
    for (const auto& [name, value] : values) {
      auto their_value = theirs->second.find(name);
      if (their_value == theirs->second.end() || !same_double(value, their_value->second)) return false;
    }
  }
  return true;
}

std::string sweep_record_to_json(const SweepRecord& record) {
  nlohmann::json breakdown = nlohmann::json::object();
  for (const auto& [kind, values] : record.breakdown) {
    nlohmann::json entries = nlohmann::json::object();
    for (const auto& [name, value] : values) entries[name] = number_json(value);
    breakdown[kind] = entries;
  }
  nlohmann::json doc = {{"key", record.key},
                        {"index", record.index},
                        {"point", record.point},
                        {"status", record.status},
                        {"error", record.error},
                        {"latency_s", number_json(record.latency_s)},
                        {"energy_j", number_json(record.energy_j)},
                        {"ops_energy_j", number_json(record.ops_energy_j)},
                        {"idle_energy_j", number_json(record.idle_energy_j)},
                        {"avg_power_w", number_json(record.avg_power_w)},
                        {"peak_temp_c", number_json(record.peak_temp_c)},
                        {"simulated_cycles", record.simulated_cycles},
                        {"breakdown", breakdown},
                        {"wall_s", number_json(record.wall_s)},
                        {"rank", record.rank}};
  return doc.dump();
}

SweepRecord sweep_record_from_json(const std::string& text, const std::string& source) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) fail(source, "sweep record is not valid JSON");
  if (!doc.is_object()) fail(source, "sweep record is not a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json& {
    auto found = doc.find(name);
    if (found == doc.end()) fail(source, std::string("sweep record has no '") + name + "'");
    return *found;
  };
  auto string_field = [&](const char* name) {
    const nlohmann::json& value = field(name);
    if (!value.is_string()) fail(source, std::string("sweep record '") + name + "' is not a string");
    return value.get<std::string>();
  };
  auto integer_field = [&](const char* name) {
    const nlohmann::json& value = field(name);
    if (!value.is_number_integer()) fail(source, std::string("sweep record '") + name + "' is not an integer");
    return value.get<int64_t>();
  };
  // null stands for a value that is not finite (JSON has no NaN).
  auto number = [&](const nlohmann::json& value, const std::string& what) {
    if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!value.is_number()) fail(source, "sweep record '" + what + "' is not a number");
    return value.get<double>();
  };
  auto number_field = [&](const char* name) { return number(field(name), name); };

  SweepRecord record;
  record.key = string_field("key");
  record.index = integer_field("index");
  record.point = string_field("point");
  record.status = string_field("status");
  record.error = string_field("error");
  record.latency_s = number_field("latency_s");
  record.energy_j = number_field("energy_j");
  record.ops_energy_j = number_field("ops_energy_j");
  record.idle_energy_j = number_field("idle_energy_j");
  record.avg_power_w = number_field("avg_power_w");
  record.peak_temp_c = number_field("peak_temp_c");
  record.simulated_cycles = integer_field("simulated_cycles");
  const nlohmann::json& breakdown = field("breakdown");
  if (!breakdown.is_object()) fail(source, "sweep record 'breakdown' is not an object");
  for (const auto& [kind, values] : breakdown.items()) {
    if (!values.is_object()) fail(source, "sweep record 'breakdown." + kind + "' is not an object");
    for (const auto& [name, value] : values.items())
      record.breakdown[kind][name] = number(value, "breakdown." + kind + "." + name);
  }
  record.wall_s = number_field("wall_s");
  record.rank = static_cast<int>(integer_field("rank"));
  return record;
}

ResultsStore::ResultsStore(const std::string& path, bool create) : path_(path) {
  if (!create && !file_exists(path)) fail(path, "no such file");
  Connection connection(path, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
  sqlite3* db = connection.get();
  if (create && table_names(db, path).empty()) {
    // WAL must be chosen outside a transaction; a new file is ours to set up.
    execute(db, path, "PRAGMA journal_mode = WAL");
    WriteTransaction transaction(db, path);
    // IF NOT EXISTS / OR IGNORE: another process may have set the file up while this one waited
    // for the write lock.
    execute(db, path, kSchema);
    Statement version(db, path, "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', ?), ('schema_version', ?)");
    version.bind(1, std::string(kFormat));
    version.bind(2, std::to_string(kSchemaVersion));
    version.run();
    transaction.commit();
  }
  check_sweep_database(db, path);  // before anything is written to a file that may not be ours
  {
    Statement mode(db, path, "PRAGMA journal_mode = WAL");
    std::string journal_mode = mode.step() ? mode.text(0) : "";
    if (journal_mode != "wal")
      fail(path, "cannot use write-ahead logging (journal mode '" + journal_mode +
                     "'); put the database on a local file system");
  }
  // Any mode survives a killed process (the log is in the OS's page cache); FULL also syncs the log
  // at every commit, so a committed batch survives power loss, where NORMAL may lose the last few.
  // Measured: 0.9 ms against 0.7 ms per 16-point batch with 20 breakdown rows each -- noise next
  // to evaluating 16 design points.
  execute(db, path, "PRAGMA synchronous = FULL");
  db_ = connection.release();
}

ResultsStore::~ResultsStore() { sqlite3_close(db_); }

std::optional<std::string> ResultsStore::meta(const std::string& key) const {
  Statement select(db_, path_, "SELECT value FROM meta WHERE key = ?");
  select.bind(1, key);
  if (!select.step()) return std::nullopt;
  return select.text(0);
}

std::map<std::string, std::string> ResultsStore::all_meta() const { return read_meta(db_, path_); }

void ResultsStore::set_meta(const std::map<std::string, std::string>& values) {
  WriteTransaction transaction(db_, path_);
  write_meta(db_, path_, values);
  transaction.commit();
}

std::unordered_set<std::string> ResultsStore::stored_keys() const {
  std::unordered_set<std::string> keys;
  Statement select(db_, path_, "SELECT key FROM points");
  while (select.step()) keys.insert(select.text(0));
  return keys;
}

int64_t ResultsStore::count() const {
  Statement select(db_, path_, "SELECT count(*) FROM points");
  select.step();
  return select.integer(0);
}

int64_t ResultsStore::write_batch(const std::vector<SweepRecord>& records) {
  WriteTransaction transaction(db_, path_);
  int64_t inserted = insert_records(db_, path_, records);
  transaction.commit();
  return inserted;
}

std::vector<SweepRecord> ResultsStore::read_all() const { return read_records(db_, path_); }

int64_t ResultsStore::merge_from(const std::string& other_path) {
  std::map<std::string, std::string> other_meta;
  std::vector<SweepRecord> records;
  {
    if (!file_exists(other_path)) fail(other_path, "no such file");
    Connection other(other_path, SQLITE_OPEN_READONLY);
    check_sweep_database(other.get(), other_path);
    // One read transaction, so the meta and the records are one snapshot even while a writer
    // is still adding to the other file.
    execute(other.get(), other_path, "BEGIN");
    other_meta = read_meta(other.get(), other_path);
    records = read_records(other.get(), other_path);
    execute(other.get(), other_path, "COMMIT");
  }
  WriteTransaction transaction(db_, path_);
  std::optional<std::string> sweep_id = meta("sweep_id");
  if (sweep_id) {
    auto theirs = other_meta.find("sweep_id");
    if (theirs == other_meta.end())
      fail(other_path, "holds no sweep_id; cannot tell it is the sweep of " + path_ + " (" + *sweep_id + ")");
    if (theirs->second != *sweep_id)
      fail(other_path, "holds another sweep (sweep_id " + theirs->second + ", " + path_ + " holds " + *sweep_id + ")");
  } else {
    // The file's own format and schema version stay as this code wrote them.
    other_meta.erase("format");
    other_meta.erase("schema_version");
    write_meta(db_, path_, other_meta);
  }
  int64_t added = insert_records(db_, path_, records);
  transaction.commit();
  return added;
}

}  // namespace coda::traces
