// The sweep results store: one SQLite database per sweep (`coda sweep --db results.sqlite`), in WAL
// mode so readers (export, report) never block the writer and a killed writer leaves the last
// committed batch intact. One row per evaluated design point, keyed by a hash of the point and the
// coda version; the per-unit, per-component and per-rail figures live in a breakdown table.
// Host facts (wall time, MPI rank) are kept in a table of their own so that two runs of the same
// sweep -- interrupted or not, on any number of ranks -- have equal result tables.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

struct sqlite3;

namespace coda::traces {

// One evaluated design point. A metric that does not exist (an error record's) is NaN: stored as
// SQL NULL, written as JSON null and as an empty CSV cell, and read back as NaN.
struct SweepRecord {
  std::string key;            // 16 hex digits: hash of the point, its context and the coda version
  int64_t index = 0;          // position in the sweep's design (deterministic for a spec and seed)
  std::string point;          // axis values as canonical JSON: {"gpu.freq_mhz": "1300.5", "network": "zoo:resnet18"}
  std::string status = "ok";  // "ok", or "error" when the point could not be evaluated
  std::string error;          // the one-line reason when status is "error"
  double latency_s = 0;
  double energy_j = 0;        // board input (VDD_IN)
  double ops_energy_j = 0;
  double idle_energy_j = 0;
  double avg_power_w = 0;     // VDD_IN average
  double peak_temp_c = 0;
  int64_t simulated_cycles = 0;
  // kind -> name -> value. Kinds: "unit_energy_j" (ops' dynamic energy by unit), "unit_busy_s",
  // "utilisation", "component_energy_j" (SimResult::energy_breakdown_j), "rail_energy_j",
  // "rail_power_w".
  std::map<std::string, std::map<std::string, double>> breakdown;
  // Host facts, not results: excluded from equality.
  double wall_s = 0;
  int rank = 0;

  // Every field but the host facts; doubles compared exactly.
  bool same_result(const SweepRecord& other) const;
};

// JSON object with every field (doubles round-trip exactly; infinities, like NaN, become null and
// read back as NaN); how MPI ranks ship records to the writer.
std::string sweep_record_to_json(const SweepRecord& record);
// Throws BadInput naming `source` for malformed text.
SweepRecord sweep_record_from_json(const std::string& text, const std::string& source);

class ResultsStore {
 public:
  // Opens `path`, creating the database and its schema when the file does not exist (unless
  // `create` is false). Throws BadInput "PATH: problem" when the file cannot be opened or is not a
  // coda sweep database (another SQLite file, a newer schema, not SQLite at all).
  explicit ResultsStore(const std::string& path, bool create = true);
  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  const std::string& path() const { return path_; }

  // Sweep identity and description ("sweep_id", "spec", "axes", "coda_version", ...). The store
  // keeps its own "format" ("coda-sweep") and "schema_version" ("1") here too.
  std::optional<std::string> meta(const std::string& key) const;
  std::map<std::string, std::string> all_meta() const;
  // Writes all values in one transaction (existing keys replaced).
  void set_meta(const std::map<std::string, std::string>& values);

  std::unordered_set<std::string> stored_keys() const;
  int64_t count() const;
  // Stores the records in one transaction; a key already stored keeps its first record (so a
  // resumed or merged run never duplicates a point). Returns how many were new.
  int64_t write_batch(const std::vector<SweepRecord>& records);
  // Every record with its breakdown, ordered by index then key.
  std::vector<SweepRecord> read_all() const;

  // Adds the records of the database at `other_path` that this one lacks, in one transaction, and
  // returns how many. Throws BadInput naming `other_path` when it is not a coda sweep database or
  // holds another sweep (its "sweep_id" meta differs from this one's, when this one has one; an
  // empty store takes the other's meta).
  int64_t merge_from(const std::string& other_path);

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// The records as CSV, written atomically (temp file + rename): one row per point with the axis
// columns (named by `axes`, values taken from each record's point JSON), status, error, the summary
// metrics, then one column per breakdown entry present in any record ("unit_energy_j.gpu", ...).
void write_sweep_csv(const std::vector<SweepRecord>& records, const std::vector<std::string>& axes,
                     const std::string& path);

}  // namespace coda::traces
