#include "tuner/legr.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "kernels/atomic_file.h"
#include "kernels/autograd.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/trainer.h"

namespace coda {

namespace {

using nlohmann::json;

[[noreturn]] void fail_in(const std::string& source, const std::string& message) {
  throw BadInput(source + ": " + message);
}

void check_options(const LegrOptions& o) {
  if (!(o.flops_target > 0.0 && o.flops_target <= 1.0))
    throw BadInput("LeGR: FLOPs target " + std::to_string(o.flops_target) + " is outside (0, 1]");
  if (o.population < 1) throw BadInput("LeGR: population must be at least 1");
  if (o.tournament < 1 || o.tournament > o.population)
    throw BadInput("LeGR: tournament size must be between 1 and the population (" + std::to_string(o.population) + ")");
  if (o.generations < 1) throw BadInput("LeGR: generations (candidates evaluated) must be at least 1");
  if (!(o.mutate_fraction >= 0.0 && o.mutate_fraction <= 1.0)) throw BadInput("LeGR: mutate fraction must be in [0, 1]");
  if (!(o.scale_sigma >= 0.0)) throw BadInput("LeGR: scale sigma must be non-negative");
  if (o.finetune_steps < 0) throw BadInput("LeGR: fine-tune steps must be non-negative");
  if (o.batch <= 0 || o.validation_batch <= 0) throw BadInput("LeGR: batch sizes must be positive");
  if (!(o.learning_rate > 0.0f)) throw BadInput("LeGR: learning rate must be positive");
}

// A fixed sample of `n` images of `data` (all of them, reshuffled, when it has fewer).
Dataset sample(const Dataset& data, int64_t n, std::uint64_t seed) {
  std::vector<int64_t> order(static_cast<std::size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(static_cast<std::size_t>(std::min(n, data.size())));
  Dataset out;
  out.name = data.name;
  out.classes = data.classes;
  Shape shape = data.images.shape();
  shape[0] = static_cast<int64_t>(order.size());
  out.images = Tensor(shape);
  const int64_t per = data.images.size() / std::max<int64_t>(1, data.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::memcpy(out.images.f32() + static_cast<int64_t>(i) * per, data.images.f32() + order[i] * per,
                static_cast<std::size_t>(per) * sizeof(float));
    out.labels.push_back(data.labels[static_cast<std::size_t>(order[i])]);
  }
  return out;
}

std::string plan_key(const PruningPlan& plan) {
  std::string key;
  for (const auto& k : plan.keep) {
    for (int64_t c : k) key += std::to_string(c) + ",";
    key += ";";
  }
  return key;
}

// Per-group spread of the squared filter norms: the scale of kappa's mutations (LeGR perturbs
// kappa_l by N(0, std of layer l's filter norms)).
std::vector<double> norm_spread(const Graph& graph, const ChannelAnalysis& analysis) {
  std::vector<std::vector<double>> norms = filter_norms(graph, analysis, FilterNorm::L2Squared);
  std::vector<double> spread(analysis.groups.size(), 0.0);
  for (std::size_t g = 0; g < norms.size(); ++g) {
    const auto& n = norms[g];
    if (n.empty()) continue;
    double mean = std::accumulate(n.begin(), n.end(), 0.0) / static_cast<double>(n.size());
    double var = 0.0;
    for (double v : n) var += (v - mean) * (v - mean);
    spread[g] = std::sqrt(var / static_cast<double>(n.size()));
    // Identical norms would freeze kappa; fall back to a small share of their size.
    if (!(spread[g] > 0.0)) spread[g] = std::max(1e-6, 1e-3 * std::fabs(mean));
  }
  return spread;
}

}  // namespace

double validation_loss(const Graph& graph, const Dataset& data, int64_t batch) {
  Graph g = graph;
  if (g.inputs.size() == 1) {
    Value& in = g.values[static_cast<std::size_t>(g.inputs.front())];
    if (!in.shape.empty()) in.shape[0] = -1;  // score whole batches, whatever batch the graph was prepared for
  }
  BatchedClassifier classifier(g, data, batch);
  double total = 0.0;
  for (int64_t begin = 0; begin < data.size(); begin += classifier.batch()) {
    const int64_t end = std::min(data.size(), begin + classifier.batch());
    Tensor scores = classifier.scores(data, begin, end);
    std::vector<int> labels(data.labels.begin() + begin, data.labels.begin() + end);
    total += static_cast<double>(softmax_cross_entropy(scores, labels, nullptr)) * static_cast<double>(end - begin);
  }
  return data.size() ? total / static_cast<double>(data.size()) : 0.0;
}

LegrResult legr_search(const Graph& graph, const Dataset& train, const Dataset& validation, const LegrOptions& o,
                       const LegrProgress& progress) {
  check_options(o);
  if (validation.size() == 0) throw BadInput("LeGR: the validation data is empty");
  if (o.finetune_steps > 0 && train.size() == 0) throw BadInput("LeGR: the fine-tuning data is empty");
  const ChannelAnalysis analysis = analyse_channels(graph);
  const std::vector<int> layers = analysis.prunable_groups();
  if (layers.empty()) throw BadInput("LeGR: the model has no prunable channel group");
  const std::vector<double> spread = norm_spread(graph, analysis);
  const Dataset tune = o.finetune_steps > 0 ? sample(train, o.finetune_steps * o.batch, o.seed) : Dataset{};

  std::map<std::string, double> cache;
  LegrResult result;
  auto evaluate = [&](const std::vector<AffineParams>& affine, int64_t& macs) {
    FlopsPlan plan = plan_to_flops(graph, analysis, o.flops_target, PruneRanking::LeGR, affine);
    macs = plan.macs_after;
    const std::string key = plan_key(plan.plan);
    if (auto hit = cache.find(key); hit != cache.end()) return hit->second;
    // The trainer updates weights in place: fine-tune a graph that shares no constant with `graph`.
    Graph candidate = clone_graph(graph);
    apply_pruning_plan(candidate, analysis, plan.plan);
    if (o.finetune_steps > 0) {
      TrainOptions t;
      t.epochs = 1;
      t.batch = o.batch;
      t.learning_rate = o.learning_rate;
      t.momentum = o.momentum;
      t.weight_decay = o.weight_decay;
      t.schedule = "constant";
      t.seed = o.seed;
      Trainer trainer(candidate, t);
      trainer.train_epoch(tune, 0);
    }
    double loss = validation_loss(candidate, validation, o.validation_batch);
    if (!std::isfinite(loss)) loss = std::numeric_limits<double>::max();
    ++result.fine_tunes;
    cache.emplace(key, loss);
    return loss;
  };

  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  struct Member {
    std::vector<AffineParams> affine;
    double loss = 0.0;
    int64_t macs = 0;
  };
  std::vector<Member> population;
  std::deque<std::size_t> ages;  // population slots, oldest first
  Member best;
  best.loss = std::numeric_limits<double>::infinity();
  const auto mutations = static_cast<std::size_t>(
      std::max<long long>(1, std::llround(o.mutate_fraction * static_cast<double>(layers.size()))));

  for (int i = 0; i < o.generations; ++i) {
    // LeGR shrinks the alpha mutations over the search.
    const double step = 1.0 - static_cast<double>(i) / (static_cast<double>(o.generations) * 1.25);
    Member child;
    child.affine.assign(analysis.groups.size(), AffineParams{});
    std::size_t replace = population.size();
    if (i == 0) {
      // The identity transform (plain squared-L2 global ranking) first, so even a short search
      // contains it; LeGR adds it as the last initial member.
    } else if (i < o.population) {
      for (int g : layers) {
        child.affine[static_cast<std::size_t>(g)].alpha = std::exp(o.scale_sigma * normal(rng));
        child.affine[static_cast<std::size_t>(g)].kappa = spread[static_cast<std::size_t>(g)] * normal(rng);
      }
    } else {
      // Tournament among distinct members; the winner's mutated copy replaces the oldest member.
      std::vector<std::size_t> slots(population.size());
      std::iota(slots.begin(), slots.end(), 0);
      std::size_t winner = slots.size();
      for (std::size_t t = 0; t < static_cast<std::size_t>(o.tournament); ++t) {
        std::size_t pick = t + std::uniform_int_distribution<std::size_t>(0, slots.size() - 1 - t)(rng);
        std::swap(slots[t], slots[pick]);
        std::size_t s = slots[t];
        if (winner == slots.size() || population[s].loss < population[winner].loss) winner = s;
      }
      replace = ages.front();
      ages.pop_front();
      child.affine = population[winner].affine;
      std::vector<int> chosen = layers;
      for (std::size_t m = 0; m < std::min(mutations, chosen.size()); ++m) {
        std::size_t pick = m + std::uniform_int_distribution<std::size_t>(0, chosen.size() - 1 - m)(rng);
        std::swap(chosen[m], chosen[pick]);
        auto g = static_cast<std::size_t>(chosen[m]);
        child.affine[g].alpha *= std::exp(o.scale_sigma * step * normal(rng));
        child.affine[g].kappa += spread[g] * normal(rng);
      }
    }
    child.loss = evaluate(child.affine, child.macs);
    if (i == 0) result.identity_loss = child.loss;
    result.losses.push_back(child.loss);
    if (child.loss < best.loss) best = child;
    if (replace == population.size()) {
      population.push_back(child);
    } else {
      population[replace] = child;
    }
    ages.push_back(replace);
    if (progress) progress(i + 1, o.generations, child.loss, best.loss);
  }
  result.affine = best.affine;
  result.best_loss = best.loss;
  result.macs_after = best.macs;
  result.macs_before = planned_macs(analysis, full_plan(analysis));
  return result;
}

std::string legr_to_json(const Graph& graph, const ChannelAnalysis& analysis, const std::vector<AffineParams>& affine,
                         const LegrOptions& o, const LegrResult* result) {
  json root;
  root["format"] = "coda-legr";
  root["version"] = 1;
  root["flops_target"] = o.flops_target;
  json groups = json::array();
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    if (!group.prunable) continue;
    json producers = json::array();
    for (int p : group.producers) producers.push_back(graph.nodes[static_cast<std::size_t>(p)].name);
    const AffineParams a = g < affine.size() ? affine[g] : AffineParams{};
    groups.push_back({{"name", group.name}, {"channels", group.channels}, {"producers", producers},
                      {"alpha", a.alpha}, {"kappa", a.kappa}});
  }
  root["groups"] = groups;
  if (result) {
    root["search"] = {{"seed", o.seed},
                      {"population", o.population},
                      {"tournament", o.tournament},
                      {"generations", o.generations},
                      {"mutate_fraction", o.mutate_fraction},
                      {"finetune_steps", o.finetune_steps},
                      {"batch", o.batch},
                      {"lr", o.learning_rate},
                      {"best_loss", result->best_loss},
                      {"identity_loss", result->identity_loss},
                      {"macs_before", result->macs_before},
                      {"macs_after", result->macs_after},
                      {"fine_tunes", result->fine_tunes},
                      {"losses", result->losses}};
  }
  return root.dump(2) + "\n";
}

std::vector<AffineParams> parse_legr_json(const std::string& text, const std::string& source,
                                          const ChannelAnalysis& analysis) {
  auto fail = [&](const std::string& message) { fail_in(source, message); };
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object() || !root.contains("groups") || !root["groups"].is_array())
    fail("expected an object with a \"groups\" array of {\"name\", \"alpha\", \"kappa\"}");
  std::map<std::string, std::size_t> index;
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) index[analysis.groups[g].name] = g;
  std::vector<AffineParams> affine(analysis.groups.size());
  std::set<std::size_t> seen;
  for (const json& entry : root["groups"]) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("alpha") ||
        !entry["alpha"].is_number() || !entry.contains("kappa") || !entry["kappa"].is_number())
      fail("each group needs \"name\" (string), \"alpha\" and \"kappa\" (numbers)");
    const std::string name = entry["name"].get<std::string>();
    auto it = index.find(name);
    if (it == index.end()) fail("group '" + name + "' is not a channel group of the model");
    const ChannelGroup& group = analysis.groups[it->second];
    if (!group.prunable) fail("group '" + name + "' cannot be pruned: " + group.reason);
    if (entry.contains("channels") && (!entry["channels"].is_number_integer() || entry["channels"].get<int64_t>() != group.channels))
      fail("group '" + name + "' has " + std::to_string(group.channels) + " channels in the model, not " +
           entry["channels"].dump());
    if (!seen.insert(it->second).second) fail("group '" + name + "' is listed twice");
    AffineParams a{entry["alpha"].get<double>(), entry["kappa"].get<double>()};
    if (!(a.alpha > 0.0) || !std::isfinite(a.alpha) || !std::isfinite(a.kappa))
      fail("group '" + name + "': alpha must be positive and finite, kappa finite");
    affine[it->second] = a;
  }
  for (int g : analysis.prunable_groups())
    if (!seen.count(static_cast<std::size_t>(g)))
      fail("no transform for group '" + analysis.groups[static_cast<std::size_t>(g)].name + "'");
  return affine;
}

std::vector<AffineParams> load_legr_json(const std::string& path, const ChannelAnalysis& analysis) {
  return parse_legr_json(read_file(path), path, analysis);
}

}  // namespace coda
