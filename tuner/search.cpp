// The ensemble search of tuner/search.h. Three techniques share one archive and one budget:
//
// - random: uniform configurations; once draws keep landing on evaluated ones (the space is
//   nearly exhausted) it takes the next unevaluated configuration in lexicographic order, so a
//   small space is enumerated instead of looping.
// - hill: first-improvement hill climbing. It starts from the feasible archive points with the
//   highest gains (each used once as a start), tries the one-gene neighbours in random order with
//   a two-gene move mixed in now and then, moves to the first better neighbour, and restarts once
//   no one-gene neighbour and a round of two-gene moves improves.
// - nsga2: NSGA-II (Deb et al., IEEE TEC 2002) on (minimise QoS loss, maximise gain) with Deb's
//   constrained domination for the QoS bound: a configuration with loss <= max_loss dominates one
//   above it, of two above it the one with less excess loss dominates, and two within it compare
//   by Pareto dominance. Binary tournaments on (rank, crowding distance), uniform crossover and
//   per-gene mutation; each generation also takes in what the other techniques found.
//
// OpenTuner's AUC bandit (Ansel et al., PACT 2014) picks the technique for each batch: a
// technique's score is the area under its curve of recent improvements plus an exploration
// bonus, over a sliding window of the last evaluations.
#include "tuner/search.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace coda::tuner {
namespace {

// OpenTuner's AUCBanditQueue defaults (opentuner/search/bandittechniques.py): C = 0.05 weighs
// exploration against exploitation, and the bandit remembers the last 500 results.
constexpr double kBanditExploration = 0.05;
constexpr std::size_t kBanditWindow = 500;

// Uniform crossover takes each gene from either parent with probability 1/2, and NSGA-II's
// per-gene mutation rate is 1/genes (Deb et al. 2002, section VI: p_m = 1/n).
constexpr double kCrossoverGeneShare = 0.5;

// Share of hill-climbing moves that change two genes instead of one: enough to step across a
// ridge where two ops must change together (e.g. one op gets cheaper, another more accurate),
// few enough that the one-gene neighbourhood is still scanned quickly. A design choice of coda.
constexpr double kTwoGeneMoveShare = 0.25;

// Random draws that may land on evaluated configurations before random sampling enumerates the
// remaining ones: with 16 misses in a row the space is at least (1/2)^(1/16) = 96% evaluated
// with probability 1/2, i.e. small enough to scan.
constexpr int kRandomRetries = 16;

// A technique's batch ends after this many proposals, cached ones included, so a technique that
// only proposes evaluated configurations hands the turn back.
constexpr int kProposalsPerEvaluation = 8;

// Offspring NSGA-II re-mutates when a child was evaluated already, before accepting it.
constexpr int kOffspringRetries = 4;

double uniform01(std::mt19937_64& rng) {
  // generate_canonical may return 1.0 with some standard libraries; keep it in [0, 1).
  double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(rng);
  return u < 1.0 ? u : std::nextafter(1.0, 0.0);
}

int uniform_index(std::mt19937_64& rng, int count) {
  int index = static_cast<int>(uniform01(rng) * count);
  return std::min(index, count - 1);
}

bool chance(std::mt19937_64& rng, double probability) { return uniform01(rng) < probability; }

struct ConfigurationHash {
  std::size_t operator()(const Configuration& config) const {
    // FNV-1a over the choice indices.
    std::uint64_t hash = 1469598103934665603ull;
    for (int gene : config) {
      hash ^= static_cast<std::uint64_t>(static_cast<std::uint32_t>(gene));
      hash *= 1099511628211ull;
    }
    return static_cast<std::size_t>(hash);
  }
};

// Deb's constrained domination (2002, section V): feasibility first, then Pareto dominance on
// (loss down, gain up).
bool constrained_dominates(const SearchPoint& a, const SearchPoint& b, double max_loss) {
  double excess_a = std::max(0.0, a.qos_loss - max_loss);
  double excess_b = std::max(0.0, b.qos_loss - max_loss);
  if (excess_a > 0 || excess_b > 0) {
    if (excess_a == 0) return true;
    if (excess_b == 0) return false;
    return excess_a < excess_b;
  }
  bool no_worse = a.qos_loss <= b.qos_loss && a.gain >= b.gain;
  bool better = a.qos_loss < b.qos_loss || a.gain > b.gain;
  return no_worse && better;
}

// The scalar order hill climbing follows: within the bound, higher gain (then lower loss); a
// point within the bound beats one outside it; outside it, lower loss.
bool hill_better(const SearchPoint& a, const SearchPoint& b, double max_loss) {
  bool feasible_a = a.qos_loss <= max_loss, feasible_b = b.qos_loss <= max_loss;
  if (feasible_a != feasible_b) return feasible_a;
  if (!feasible_a) return a.qos_loss < b.qos_loss;
  if (a.gain != b.gain) return a.gain > b.gain;
  return a.qos_loss < b.qos_loss;
}

// The Pareto front of the points within the bound, loss -> gain with both strictly increasing:
// what "the search improved" means (a new point joins this front, which includes raising the
// best feasible gain).
class FeasibleFront {
 public:
  // Adds the point; true when it joined the front.
  bool add(double loss, double gain) {
    auto at_or_below = front_.upper_bound(loss);
    if (at_or_below != front_.begin()) {
      // The last front point with loss <= this one has the highest gain among them.
      if (std::prev(at_or_below)->second >= gain) return false;
    }
    // Remove the front points this one dominates: loss >= it and gain <= it.
    auto it = front_.lower_bound(loss);
    while (it != front_.end() && it->second <= gain) it = front_.erase(it);
    front_[loss] = gain;
    best_gain_ = std::max(best_gain_, gain);
    return true;
  }
  bool empty() const { return front_.empty(); }
  double best_gain() const { return best_gain_; }

 private:
  std::map<double, double> front_;
  double best_gain_ = -std::numeric_limits<double>::infinity();
};

// OpenTuner's AUCBanditMetaTechnique: score = AUC of the technique's recent improvements +
// C * sqrt(2 log2(window uses) / technique uses), unused techniques first.
class AucBandit {
 public:
  explicit AucBandit(std::size_t techniques) : uses_(techniques, 0) {}

  std::size_t choose() const {
    std::size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::size_t t = 0; t < uses_.size(); ++t) {
      double score = uses_[t] == 0 ? std::numeric_limits<double>::infinity()
                                   : exploitation(t) + kBanditExploration * exploration(t);
      if (score > best_score) {
        best = t;
        best_score = score;
      }
    }
    return best;
  }

  void record(std::size_t technique, bool improved) {
    history_.emplace_back(technique, improved);
    ++uses_[technique];
    if (history_.size() > kBanditWindow) {
      --uses_[history_.front().first];
      history_.pop_front();
    }
  }

 private:
  // The area under the curve of the technique's uses in the window, where the i-th use (oldest
  // first) counts i when it improved, normalised to [0, 1]: recent improvements weigh more.
  double exploitation(std::size_t technique) const {
    double value = 0;
    double count = 0;
    for (const auto& [t, improved] : history_) {
      if (t != technique) continue;
      count += 1;
      if (improved) value += count;
    }
    return count == 0 ? 0.0 : value * 2.0 / (count * (count + 1.0));
  }
  double exploration(std::size_t technique) const {
    return std::sqrt(2.0 * std::log2(static_cast<double>(history_.size())) / uses_[technique]);
  }

  std::deque<std::pair<std::size_t, bool>> history_;
  std::vector<int> uses_;
};

// The archive, budget, stop rules and bookkeeping the techniques share.
class SearchState {
 public:
  SearchState(const std::vector<int>& choice_counts, const SearchObjective& objective, const SearchOptions& options,
              const SearchProgress& progress)
      : counts(choice_counts), options(options), rng(options.seed), objective_(objective), progress_(progress) {
    space_size_ = 1.0;
    for (int count : counts) space_size_ = std::min(space_size_ * count, 1e300);
  }

  const std::vector<int> counts;
  const SearchOptions options;
  std::mt19937_64 rng;
  SearchResult result;

  int genes() const { return static_cast<int>(counts.size()); }
  bool evaluated(const Configuration& config) const { return index_.count(config) != 0; }
  bool exhausted() const { return static_cast<double>(result.evaluated.size()) >= space_size_; }
  bool out_of_patience() const { return since_improvement_ >= options.patience; }
  bool finished() const {
    return static_cast<int>(result.evaluated.size()) >= options.budget || exhausted() || out_of_patience();
  }
  std::size_t size() const { return result.evaluated.size(); }
  const SearchPoint& point(std::size_t index) const { return result.evaluated[index]; }

  // The archive index of the configuration, evaluating it first when it is new (`fresh` tells).
  // Must not be called once finished() holds for a new configuration.
  std::size_t visit(const Configuration& config, const std::string& technique, bool& fresh) {
    auto found = index_.find(config);
    if (found != index_.end()) {
      fresh = false;
      return found->second;
    }
    fresh = true;
    SearchPoint point = objective_(config);
    if (std::isnan(point.qos_loss) || std::isnan(point.gain))
      throw std::invalid_argument("ensemble_search: the objective returned NaN for a configuration");
    point.config = config;
    point.found_by = technique;
    bool improved = point.qos_loss <= options.max_loss && front_.add(point.qos_loss, point.gain);
    std::size_t index = result.evaluated.size();
    result.evaluated.push_back(std::move(point));
    index_.emplace(config, index);
    ++result.evaluations;
    ++result.evaluations_by_technique[technique];
    if (improved) {
      ++result.improvements_by_technique[technique];
      since_improvement_ = 0;
    } else {
      ++since_improvement_;
    }
    last_improved_ = improved;
    if (progress_) progress_(result.evaluations, options.budget, front_.empty() ? 0.0 : front_.best_gain());
    return index;
  }
  bool last_improved() const { return last_improved_; }

  Configuration random_configuration() {
    Configuration config(counts.size());
    for (std::size_t g = 0; g < counts.size(); ++g) config[g] = uniform_index(rng, counts[g]);
    return config;
  }

  // The first unevaluated configuration at or after `config` in lexicographic order, wrapping
  // around. Only called when the space is not exhausted.
  Configuration next_unevaluated(Configuration config) const {
    while (evaluated(config)) {
      for (std::size_t g = counts.size(); g-- > 0;) {
        if (++config[g] < counts[g]) break;
        config[g] = 0;
      }
    }
    return config;
  }

 private:
  const SearchObjective& objective_;
  const SearchProgress& progress_;
  std::unordered_map<Configuration, std::size_t, ConfigurationHash> index_;
  FeasibleFront front_;
  double space_size_ = 1.0;
  int since_improvement_ = 0;
  bool last_improved_ = false;
};

// A technique proposes configurations through Batch::try_config, which evaluates new ones,
// feeds the bandit and ends the batch at its size.
class Batch {
 public:
  Batch(SearchState& state, AucBandit& bandit, std::size_t technique, std::string name, int size)
      : state_(state), bandit_(bandit), technique_(technique), name_(std::move(name)), size_(size) {}

  bool done() const {
    return evaluations_ >= size_ || proposals_ >= size_ * kProposalsPerEvaluation || state_.finished();
  }
  // The archive index of `config` (evaluated when new). Callers check done() first.
  std::size_t try_config(const Configuration& config) {
    ++proposals_;
    bool fresh = false;
    std::size_t index = state_.visit(config, name_, fresh);
    if (fresh) {
      ++evaluations_;
      bandit_.record(technique_, state_.last_improved());
    }
    return index;
  }
  // A batch that evaluated nothing still counts once against its technique, so the bandit moves
  // on from a technique that only revisits.
  void close() {
    if (evaluations_ == 0) bandit_.record(technique_, false);
  }

 private:
  SearchState& state_;
  AucBandit& bandit_;
  std::size_t technique_;
  std::string name_;
  int size_;
  int evaluations_ = 0;
  int proposals_ = 0;
};

class Technique {
 public:
  virtual ~Technique() = default;
  virtual std::string name() const = 0;
  virtual void run(SearchState& state, Batch& batch) = 0;
};

class RandomSampling : public Technique {
 public:
  std::string name() const override { return "random"; }
  void run(SearchState& state, Batch& batch) override {
    while (!batch.done()) {
      Configuration config = state.random_configuration();
      for (int retry = 0; retry < kRandomRetries && state.evaluated(config); ++retry)
        config = state.random_configuration();
      if (state.evaluated(config)) config = state.next_unevaluated(std::move(config));
      batch.try_config(config);
    }
  }
};

class HillClimbing : public Technique {
 public:
  std::string name() const override { return "hill"; }

  void run(SearchState& state, Batch& batch) override {
    while (!batch.done()) {
      if (!current_) restart(state, batch);
      if (batch.done()) break;
      Configuration neighbour;
      if (!next_move(state, neighbour)) {
        current_.reset();  // stuck: a local optimum for one- and two-gene moves
        continue;
      }
      std::size_t index = batch.try_config(neighbour);
      if (hill_better(state.point(index), state.point(*current_), state.options.max_loss)) move_to(state, index);
    }
  }

 private:
  // Next start: the feasible archive point with the highest gain not used as a start yet, else
  // a random configuration.
  void restart(SearchState& state, Batch& batch) {
    std::size_t best = state.size();
    for (std::size_t i = 0; i < state.size(); ++i) {
      const SearchPoint& p = state.point(i);
      if (p.qos_loss > state.options.max_loss || starts_.count(i)) continue;
      if (best == state.size() || hill_better(p, state.point(best), state.options.max_loss)) best = i;
    }
    if (best == state.size()) {
      Configuration config = state.random_configuration();
      if (state.evaluated(config) && !state.exhausted()) config = state.next_unevaluated(std::move(config));
      best = batch.try_config(config);
    }
    starts_.insert(best);
    move_to(state, best);
  }

  void move_to(SearchState& state, std::size_t index) {
    current_ = index;
    const Configuration& config = state.point(index).config;
    one_gene_moves_.clear();
    for (int g = 0; g < state.genes(); ++g)
      for (int v = 0; v < state.counts[g]; ++v)
        if (v != config[g]) one_gene_moves_.emplace_back(g, v);
    // Fisher-Yates with the portable uniform index.
    for (std::size_t i = one_gene_moves_.size(); i > 1; --i)
      std::swap(one_gene_moves_[i - 1], one_gene_moves_[uniform_index(state.rng, static_cast<int>(i))]);
    next_one_gene_ = 0;
    two_gene_tries_left_ = 2 * state.genes();
  }

  // The next neighbour of the current point; false when the current point is a local optimum.
  bool next_move(SearchState& state, Configuration& neighbour) {
    neighbour = state.point(*current_).config;
    bool one_gene_left = next_one_gene_ < one_gene_moves_.size();
    bool two_gene_possible = two_gene_genes(state) >= 2;
    bool two_gene = two_gene_possible && (one_gene_left ? chance(state.rng, kTwoGeneMoveShare) : two_gene_tries_left_ > 0);
    if (two_gene) {
      if (!one_gene_left) --two_gene_tries_left_;
      int first = random_variable_gene(state, -1);
      int second = random_variable_gene(state, first);
      change_gene(state, neighbour, first);
      change_gene(state, neighbour, second);
      return true;
    }
    if (!one_gene_left) return false;
    auto [gene, value] = one_gene_moves_[next_one_gene_++];
    neighbour[gene] = value;
    return true;
  }

  static int two_gene_genes(const SearchState& state) {
    int variable = 0;
    for (int count : state.counts) variable += count > 1;
    return variable;
  }
  static int random_variable_gene(SearchState& state, int other_than) {
    for (;;) {
      int g = uniform_index(state.rng, state.genes());
      if (state.counts[g] > 1 && g != other_than) return g;
    }
  }
  static void change_gene(SearchState& state, Configuration& config, int gene) {
    // A value other than the current one, uniformly.
    int value = uniform_index(state.rng, state.counts[gene] - 1);
    config[gene] = value >= config[gene] ? value + 1 : value;
  }

  std::optional<std::size_t> current_;
  std::set<std::size_t> starts_;
  std::vector<std::pair<int, int>> one_gene_moves_;
  std::size_t next_one_gene_ = 0;
  int two_gene_tries_left_ = 0;
};

class Nsga2 : public Technique {
 public:
  std::string name() const override { return "nsga2"; }

  void run(SearchState& state, Batch& batch) override {
    const int population_size = state.options.population;
    // Take in what the other techniques evaluated since the last generation.
    std::vector<std::size_t> pool = population_;
    for (; seen_ < state.size(); ++seen_) pool.push_back(seen_);
    while (static_cast<int>(pool.size()) < population_size && !batch.done()) {
      Configuration config = state.random_configuration();
      if (state.evaluated(config) && !state.exhausted()) config = state.next_unevaluated(std::move(config));
      pool.push_back(batch.try_config(config));
      seen_ = std::max(seen_, state.size());
    }
    population_ = select(state, pool, population_size);
    if (population_.size() < 2) return;  // the budget ran out while filling the population
    std::vector<std::size_t> offspring;
    while (static_cast<int>(offspring.size()) < population_size && !batch.done()) {
      std::size_t a = tournament(state), b = tournament(state);
      Configuration child;
      for (int attempt = 0; attempt <= kOffspringRetries; ++attempt) {
        child = crossover(state, state.point(population_[a]).config, state.point(population_[b]).config);
        mutate(state, child);
        if (!state.evaluated(child)) break;
      }
      offspring.push_back(batch.try_config(child));
    }
    std::vector<std::size_t> combined = population_;
    combined.insert(combined.end(), offspring.begin(), offspring.end());
    seen_ = std::max(seen_, state.size());
    population_ = select(state, combined, population_size);
  }

 private:
  // Environmental selection: whole fronts of constrained non-dominated sorting, the last one cut
  // by crowding distance. Leaves rank_ and crowding_ for the chosen members' tournaments.
  std::vector<std::size_t> select(const SearchState& state, std::vector<std::size_t> pool, int size) {
    std::sort(pool.begin(), pool.end());
    pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
    std::vector<std::vector<std::size_t>> fronts = nondominated_fronts(state, pool);
    std::vector<std::size_t> chosen;
    rank_.clear();
    crowding_.clear();
    for (std::size_t f = 0; f < fronts.size() && static_cast<int>(chosen.size()) < size; ++f) {
      std::vector<double> distance = crowding_distance(state, fronts[f]);
      std::vector<std::size_t> order(fronts[f].size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      // Larger crowding distance first; archive order breaks ties so the cut is reproducible.
      std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return distance[x] > distance[y]; });
      for (std::size_t i : order) {
        if (static_cast<int>(chosen.size()) >= size) break;
        chosen.push_back(fronts[f][i]);
        rank_.push_back(static_cast<int>(f));
        crowding_.push_back(distance[i]);
      }
    }
    return chosen;
  }

  // Deb's fast non-dominated sort under constrained domination.
  static std::vector<std::vector<std::size_t>> nondominated_fronts(const SearchState& state,
                                                                  const std::vector<std::size_t>& pool) {
    const double max_loss = state.options.max_loss;
    std::size_t n = pool.size();
    std::vector<std::vector<std::size_t>> dominated(n);
    std::vector<int> dominators(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const SearchPoint& a = state.point(pool[i]);
        const SearchPoint& b = state.point(pool[j]);
        if (constrained_dominates(a, b, max_loss)) {
          dominated[i].push_back(j);
          ++dominators[j];
        } else if (constrained_dominates(b, a, max_loss)) {
          dominated[j].push_back(i);
          ++dominators[i];
        }
      }
    std::vector<std::vector<std::size_t>> fronts;
    std::vector<std::size_t> current;
    for (std::size_t i = 0; i < n; ++i)
      if (dominators[i] == 0) current.push_back(i);
    while (!current.empty()) {
      std::vector<std::size_t> next;
      std::vector<std::size_t> members;
      for (std::size_t i : current) {
        members.push_back(pool[i]);
        for (std::size_t j : dominated[i])
          if (--dominators[j] == 0) next.push_back(j);
      }
      std::sort(next.begin(), next.end());
      fronts.push_back(std::move(members));
      current = std::move(next);
    }
    return fronts;
  }

  // Deb's crowding distance over the two objectives, each normalised by its range in the front;
  // the extreme points get infinity.
  static std::vector<double> crowding_distance(const SearchState& state, const std::vector<std::size_t>& front) {
    std::size_t n = front.size();
    std::vector<double> distance(n, 0.0);
    if (n <= 2) {
      std::fill(distance.begin(), distance.end(), std::numeric_limits<double>::infinity());
      return distance;
    }
    for (int objective = 0; objective < 2; ++objective) {
      auto value = [&](std::size_t i) {
        const SearchPoint& p = state.point(front[i]);
        return objective == 0 ? p.qos_loss : p.gain;
      };
      std::vector<std::size_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return value(x) < value(y); });
      double range = value(order.back()) - value(order.front());
      distance[order.front()] = distance[order.back()] = std::numeric_limits<double>::infinity();
      if (range <= 0) continue;
      for (std::size_t k = 1; k + 1 < n; ++k)
        distance[order[k]] += (value(order[k + 1]) - value(order[k - 1])) / range;
    }
    return distance;
  }

  // Binary tournament on the crowded comparison: lower rank, then larger crowding distance.
  std::size_t tournament(SearchState& state) const {
    int n = static_cast<int>(population_.size());
    std::size_t a = static_cast<std::size_t>(uniform_index(state.rng, n));
    std::size_t b = static_cast<std::size_t>(uniform_index(state.rng, n));
    if (rank_[a] != rank_[b]) return rank_[a] < rank_[b] ? a : b;
    return crowding_[a] >= crowding_[b] ? a : b;
  }

  static Configuration crossover(SearchState& state, const Configuration& a, const Configuration& b) {
    Configuration child(a.size());
    for (std::size_t g = 0; g < a.size(); ++g) child[g] = chance(state.rng, kCrossoverGeneShare) ? a[g] : b[g];
    return child;
  }

  static void mutate(SearchState& state, Configuration& config) {
    double rate = 1.0 / state.genes();
    for (int g = 0; g < state.genes(); ++g) {
      if (state.counts[g] < 2 || !chance(state.rng, rate)) continue;
      int value = uniform_index(state.rng, state.counts[g] - 1);
      config[g] = value >= config[g] ? value + 1 : value;
    }
  }

  std::vector<std::size_t> population_;
  std::vector<int> rank_;
  std::vector<double> crowding_;
  std::size_t seen_ = 0;
};

void check_arguments(const std::vector<int>& choice_counts, const SearchOptions& options) {
  if (choice_counts.empty()) throw std::invalid_argument("ensemble_search: the tuning space has no tunable op");
  for (int count : choice_counts)
    if (count < 1) throw std::invalid_argument("ensemble_search: every op needs at least one choice (the exact one)");
  if (options.budget < 1) throw std::invalid_argument("ensemble_search: budget must be at least 1");
  if (options.patience < 1) throw std::invalid_argument("ensemble_search: patience must be at least 1");
  if (options.population < 2) throw std::invalid_argument("ensemble_search: population must be at least 2");
  if (!std::isfinite(options.max_loss) || options.max_loss < 0)
    throw std::invalid_argument("ensemble_search: max_loss must be a finite value >= 0");
}

}  // namespace

SearchResult ensemble_search(const std::vector<int>& choice_counts, const SearchObjective& objective,
                             const SearchOptions& options, const SearchProgress& progress) {
  check_arguments(choice_counts, options);
  SearchState state(choice_counts, objective, options, progress);
  bool fresh = false;
  state.visit(Configuration(choice_counts.size(), 0), "seed", fresh);

  std::vector<std::unique_ptr<Technique>> techniques;
  techniques.push_back(std::make_unique<RandomSampling>());
  techniques.push_back(std::make_unique<HillClimbing>());
  techniques.push_back(std::make_unique<Nsga2>());
  AucBandit bandit(techniques.size());
  // One batch is one NSGA-II generation's worth of evaluations for every technique, so the
  // bandit compares them over the same number of evaluations.
  const int batch_size = options.population;
  while (!state.finished()) {
    std::size_t chosen = bandit.choose();
    Batch batch(state, bandit, chosen, techniques[chosen]->name(), batch_size);
    techniques[chosen]->run(state, batch);
    batch.close();
  }
  state.result.stopped_by_patience = state.out_of_patience() && state.result.evaluations < options.budget &&
                                     !state.exhausted();
  return std::move(state.result);
}

}  // namespace coda::tuner
