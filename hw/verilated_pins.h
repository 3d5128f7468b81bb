// Internal to hw/: ArrayPins over a Verilated shift_add_array, one template per flavour, for any
// build parameters (the port types follow from the model class). Included only by the generated
// variant table (rtl_variants.cpp.in), which knows the model classes.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include <systemc.h>
#include <verilated.h>

#include "hw/array_pins.h"

namespace coda::hw {

// C++ flavour ports: CData/SData/IData/QData (integers) up to 64 bits, VlWide<N> beyond.
template <class Port>
std::enable_if_t<std::is_integral<Port>::value> put_port(Port& port, const PortWords& words) {
  std::uint64_t value = words.empty() ? 0 : words[0];
  if (words.size() > 1) value |= std::uint64_t{words[1]} << 32;
  port = static_cast<Port>(value);
}
template <std::size_t N>
void put_port(VlWide<N>& port, const PortWords& words) {
  for (std::size_t i = 0; i < N; ++i) port.at(i) = i < words.size() ? words[i] : 0;
}
template <class Port>
std::enable_if_t<std::is_integral<Port>::value> put_port(Port& port, std::uint64_t value) {
  port = static_cast<Port>(value);
}
template <std::size_t N>
PortWords get_port(const VlWide<N>& port) {
  return PortWords(port.data(), port.data() + N);
}
template <class Port>
std::enable_if_t<std::is_integral<Port>::value, PortWords> get_port(const Port& port) {
  const auto value = static_cast<std::uint64_t>(port);
  return {static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(value >> 32)};
}

template <class Model>
class CppPins final : public ArrayPins {
 public:
  // The thread's Verilator context, shared with every other model: constructing a model makes its
  // context the thread's, so a context owned (and destroyed) by one model would leave the next
  // model a dangling one.
  CppPins() : model_(std::make_unique<Model>("array")) {}
  ~CppPins() override { model_->final(); }

  void set_reset(bool reset) override { model_->rst = reset; }
  void set_load(bool enable, int64_t step, const PortWords& activations, const PortWords& codes) override {
    model_->load_en = enable;
    put_port(model_->load_step, static_cast<std::uint64_t>(step));
    put_port(model_->load_act, activations);
    put_port(model_->load_codes, codes);
  }
  void set_start(bool start, int64_t k, int rows_used, int cols_used, bool accumulate) override {
    model_->start = start;
    put_port(model_->k, static_cast<std::uint64_t>(k));
    put_port(model_->rows_used, static_cast<std::uint64_t>(rows_used));
    put_port(model_->cols_used, static_cast<std::uint64_t>(cols_used));
    model_->accumulate = accumulate;
  }
  void set_read_row(int row) override { put_port(model_->read_row, static_cast<std::uint64_t>(row)); }
  void begin() override {}
  void clock() override {
    model_->clk = 0;
    model_->eval();
    model_->clk = 1;
    model_->eval();
  }
  void settle() override { model_->eval(); }
  bool done() override { return model_->done != 0; }
  PortWords read_data() override { return get_port(model_->read_data); }

 private:
  std::unique_ptr<Model> model_;
};

// SystemC flavour (verilated with --pins-bv 2): bool for one bit, sc_bv<W> beyond.
template <int W>
void put_signal(sc_core::sc_signal<sc_dt::sc_bv<W>>& signal, const PortWords& words) {
  sc_dt::sc_bv<W> value;
  for (int i = 0; i < port_words(W); ++i) value.set_word(i, i < static_cast<int>(words.size()) ? words[static_cast<std::size_t>(i)] : 0);
  signal.write(value);
}
template <int W>
void put_signal(sc_core::sc_signal<sc_dt::sc_bv<W>>& signal, std::uint64_t value) {
  signal.write(sc_dt::sc_bv<W>(static_cast<sc_dt::uint64>(value)));
}
template <int W>
PortWords get_signal(const sc_core::sc_signal<sc_dt::sc_bv<W>>& signal) {
  const sc_dt::sc_bv<W> value = signal.read();
  PortWords words(static_cast<std::size_t>(port_words(W)));
  for (int i = 0; i < port_words(W); ++i) words[static_cast<std::size_t>(i)] = value.get_word(i);
  return words;
}

// The signal type that fits a Verilated model's port member (sc_in<T>& / sc_out<T>&).
template <class PortRef>
using SignalFor = sc_core::sc_signal<typename std::remove_reference_t<PortRef>::data_type>;

template <class Model>
class ScPins final : public ArrayPins {
 public:
  // Constructed inside the owning module's constructor (before the first sc_start): the model and
  // the signals become its children; the model's clock is the owner's clk port.
  ScPins(const char* name, sc_core::sc_in<bool>& clk) : clk_(clk), model_(name) {
    model_.clk(clk);
    model_.rst(rst_);
    model_.load_en(load_en_);
    model_.load_step(load_step_);
    model_.load_act(load_act_);
    model_.load_codes(load_codes_);
    model_.start(start_);
    model_.k(k_);
    model_.rows_used(rows_used_);
    model_.cols_used(cols_used_);
    model_.accumulate(accumulate_);
    model_.busy(busy_);
    model_.done(done_);
    model_.read_row(read_row_);
    model_.read_data(read_data_);
  }

  void set_reset(bool reset) override { rst_.write(reset); }
  void set_load(bool enable, int64_t step, const PortWords& activations, const PortWords& codes) override {
    load_en_.write(enable);
    put_signal(load_step_, static_cast<std::uint64_t>(step));
    put_signal(load_act_, activations);
    put_signal(load_codes_, codes);
  }
  void set_start(bool start, int64_t k, int rows_used, int cols_used, bool accumulate) override {
    start_.write(start);
    put_signal(k_, static_cast<std::uint64_t>(k));
    put_signal(rows_used_, static_cast<std::uint64_t>(rows_used));
    put_signal(cols_used_, static_cast<std::uint64_t>(cols_used));
    accumulate_.write(accumulate);
  }
  void set_read_row(int row) override { put_signal(read_row_, static_cast<std::uint64_t>(row)); }
  // Inputs change on falling edges and outputs are read there: they are settled half a period
  // after the rising edge, and the next rising edge samples the new inputs.
  void begin() override { sc_core::wait(clk_.negedge_event()); }
  void clock() override { sc_core::wait(clk_.negedge_event()); }
  void settle() override { sc_core::wait(clk_.negedge_event()); }
  bool done() override { return done_.read(); }
  PortWords read_data() override { return get_signal(read_data_); }

 private:
  sc_core::sc_in<bool>& clk_;
  Model model_;
  SignalFor<decltype(Model::rst)> rst_{"rst"};
  SignalFor<decltype(Model::load_en)> load_en_{"load_en"};
  SignalFor<decltype(Model::load_step)> load_step_{"load_step"};
  SignalFor<decltype(Model::load_act)> load_act_{"load_act"};
  SignalFor<decltype(Model::load_codes)> load_codes_{"load_codes"};
  SignalFor<decltype(Model::start)> start_{"start"};
  SignalFor<decltype(Model::k)> k_{"k"};
  SignalFor<decltype(Model::rows_used)> rows_used_{"rows_used"};
  SignalFor<decltype(Model::cols_used)> cols_used_{"cols_used"};
  SignalFor<decltype(Model::accumulate)> accumulate_{"accumulate"};
  SignalFor<decltype(Model::busy)> busy_{"busy"};
  SignalFor<decltype(Model::done)> done_{"done"};
  SignalFor<decltype(Model::read_row)> read_row_{"read_row"};
  SignalFor<decltype(Model::read_data)> read_data_{"read_data"};
};

template <class Model>
std::unique_ptr<ArrayPins> make_cpp_pins() {
  return std::make_unique<CppPins<Model>>();
}
template <class Model>
std::unique_ptr<ArrayPins> make_sc_pins(const char* name, sc_core::sc_in<bool>& clk) {
  return std::make_unique<ScPins<Model>>(name, clk);
}

}  // namespace coda::hw
