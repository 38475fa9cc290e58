// Compiled driver of the Verilated core: streams whole operations from memory buffers.
//
// Built by sim/fast/core.py together with the Verilator model of one core configuration into a
// shared library that Python calls through ctypes once per operation.  `ports.h` (generated next to
// this file at build time) includes the model's header and names its class `TOP`.
//
// Port names: Verilator escapes the double underscore of Amaranth's `x_in__valid` as `x_in___05Fvalid`.
//
// Stream semantics are those of the cocotb server bench (sim/benches/serve_tb.py): an input stream
// presents its queued beats back to back with valid held high, a beat is taken on a rising edge
// where valid and ready are both high, the output streams are always ready.  Each loop iteration is
// one rising edge; the handshake is decided by the values settled before the edge.
#include <cstdint>
#include <cstring>

#include "verilated.h"
#include "ports.h"

namespace {

enum { CFG, X_IN, W_IN, RS_IN, P_IN, N_IN };
enum { Y_OUT, D_OUT, N_OUT };

// Verilator stores a port in the smallest of 8/16/32/64-bit integers, or as 32-bit words beyond 64 bits.
inline void put(CData& s, const uint32_t* w) { s = static_cast<CData>(w[0]); }
inline void put(SData& s, const uint32_t* w) { s = static_cast<SData>(w[0]); }
inline void put(IData& s, const uint32_t* w) { s = w[0]; }
inline void put(QData& s, const uint32_t* w) { s = static_cast<QData>(w[0]) | (static_cast<QData>(w[1]) << 32); }
template <std::size_t N> inline void put(VlWide<N>& s, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) s[i] = w[i];
}
inline void get(const CData& s, uint32_t* w) { w[0] = s; }
inline void get(const SData& s, uint32_t* w) { w[0] = s; }
inline void get(const IData& s, uint32_t* w) { w[0] = s; }
inline void get(const QData& s, uint32_t* w) { w[0] = static_cast<uint32_t>(s); w[1] = static_cast<uint32_t>(s >> 32); }
template <std::size_t N> inline void get(const VlWide<N>& s, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = s[i];
}
template <typename T> constexpr int words_of(const T&) { return sizeof(T) <= 4 ? 1 : static_cast<int>((sizeof(T) + 3) / 4); }

struct Harness {
    VerilatedContext ctx;
    TOP* top;
    long long cycles = 0;  // rising edges since construction
    Harness() { top = new TOP{&ctx}; }
    ~Harness() { top->final(); delete top; }
    void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        ++cycles;
    }
};

// One input stream: a pointer into the caller's beats, the position, whether a beat is on the bus.
struct Feed {
    const uint32_t* data = nullptr;
    long long n = 0, next = 0, stalls = 0;
    int words = 1;
    bool busy = false;
    bool idle() const { return !busy && next >= n; }
};

template <typename P> void present(P& payload, Feed& f) {
    put(payload, f.data + f.next * f.words);
    ++f.next;
}

}  // namespace

extern "C" {

int uq_words(int port) {  // 32-bit words per payload beat: inputs 0..4, outputs 5..6
    TOP* t = nullptr;  // only the member types are used (words_of never reads the object)
    switch (port) {
        case 0: return words_of(t->cfg___05Fpayload);
        case 1: return words_of(t->x_in___05Fpayload);
        case 2: return words_of(t->w_in___05Fpayload);
        case 3: return words_of(t->rs_in___05Fpayload);
        case 4: return words_of(t->p_in___05Fpayload);
        case 5: return words_of(t->y_out___05Fpayload);
        case 6: return words_of(t->d_out___05Fpayload);
    }
    return -1;
}

void* uq_new() { return new Harness(); }
void uq_free(void* p) { delete static_cast<Harness*>(p); }
long long uq_cycles(void* p) { return static_cast<Harness*>(p)->cycles; }
long long uq_status(void* p) { return static_cast<long long>(static_cast<Harness*>(p)->top->status); }

// Reset as the benches do: rst high for `edges` rising edges, every valid low, every output ready high.
void uq_reset(void* p, int edges) {
    Harness* h = static_cast<Harness*>(p);
    TOP* t = h->top;
    t->cfg___05Fvalid = t->x_in___05Fvalid = t->w_in___05Fvalid = t->rs_in___05Fvalid = t->p_in___05Fvalid = 0;
    t->y_out___05Fready = t->d_out___05Fready = 1;
    t->rst = 1;
    t->clk = 0;
    t->eval();
    for (int i = 0; i < edges; ++i) h->tick();
    t->rst = 0;
    t->eval();
}

// Set the static inputs, then one rising edge so that they settle before the next operation's first beat.
void uq_statics(void* p, int lo, int hi, int restore) {
    Harness* h = static_cast<Harness*>(p);
    h->top->lo = static_cast<SData>(lo);
    h->top->hi = static_cast<SData>(hi);
    h->top->restore = static_cast<CData>(restore);
    h->top->eval();
    h->tick();
}

// Stream `in_n[i]` beats of `in_data[i]` into input i (0 cfg, 1 x_in, 2 w_in, 3 rs_in, 4 p_in) and record
// output o (0 y_out, 1 d_out) into `out[o]` (room for `cap[o]` beats; null: not watched).  Runs until every
// input is drained and `want[o]` beats of each watched output are recorded, then `tail` more edges (beats
// there are extra).  Returns the edges until completion, -1 when `max_cycles` passed first, -2 when an `out`
// overflowed.  `stalls[i]`: edges at which input i had a beat on the bus and ready low.  `got[o]`: beats
// recorded before the tail; `extra[o]`: beats recorded in the tail; `done[o]`: the edge count at which
// output o had its `want[o]` beats (0 when none were wanted), so that a GEMM and a DeMax stream that
// run together each get their own completion time.
long long uq_run(void* p, const uint32_t** in_data, const long long* in_n, uint32_t** out, const long long* cap,
                 const long long* want, long long max_cycles, int tail, long long* stalls, long long* got,
                 long long* extra, long long* done) {
    Harness* h = static_cast<Harness*>(p);
    TOP* t = h->top;
    Feed f[N_IN];
    for (int i = 0; i < N_IN; ++i) {
        f[i].data = in_data[i];
        f[i].n = in_data[i] ? in_n[i] : 0;
        f[i].words = uq_words(i);
    }
    const int ow[N_OUT] = {uq_words(5), uq_words(6)};
    long long rec[N_OUT] = {0, 0}, cycles = 0;
    bool overflow = false, watched = false;
    for (int o = 0; o < N_OUT; ++o) {
        done[o] = 0;
        watched = watched || out[o] != nullptr;
    }
    auto record_one = [&](int o, bool valid, const auto& payload) {
        if (!out[o] || !valid) return;
        if (rec[o] < cap[o]) get(payload, out[o] + rec[o] * ow[o]); else overflow = true;
        ++rec[o];
    };
    auto record = [&]() {
        record_one(Y_OUT, t->y_out___05Fvalid, t->y_out___05Fpayload);
        record_one(D_OUT, t->d_out___05Fvalid, t->d_out___05Fpayload);
    };
    // the per-stream step of the bench's Driver, given the ready sampled before the edge
    auto step = [&](Feed& s, CData& valid, bool ready, auto& payload) {
        if (s.busy) {
            if (!ready) { ++s.stalls; return; }
            if (s.next < s.n) { present(payload, s); return; }
            s.busy = false;
            valid = 0;
        } else if (s.next < s.n) {
            present(payload, s);
            valid = 1;
            s.busy = true;
        }
    };
    while (true) {
        const bool r0 = t->cfg___05Fready, r1 = t->x_in___05Fready, r2 = t->w_in___05Fready, r3 = t->rs_in___05Fready,
                   r4 = t->p_in___05Fready;
        // the monitors sample the outputs before the edge as well (ready is always high)
        record();
        // rising edge; the new inputs then settle with the falling edge's evaluation (two evals per cycle)
        t->clk = 1;
        t->eval();
        ++h->cycles;
        ++cycles;
        for (int o = 0; o < N_OUT; ++o)
            if (out[o] && !done[o] && want[o] && rec[o] >= want[o]) done[o] = cycles;
        step(f[CFG], t->cfg___05Fvalid, r0, t->cfg___05Fpayload);
        step(f[X_IN], t->x_in___05Fvalid, r1, t->x_in___05Fpayload);
        step(f[W_IN], t->w_in___05Fvalid, r2, t->w_in___05Fpayload);
        step(f[RS_IN], t->rs_in___05Fvalid, r3, t->rs_in___05Fpayload);
        step(f[P_IN], t->p_in___05Fvalid, r4, t->p_in___05Fpayload);
        t->clk = 0;
        t->eval();
        bool finished = true;
        for (int i = 0; i < N_IN; ++i) finished = finished && f[i].idle();
        for (int o = 0; o < N_OUT; ++o) finished = finished && (!out[o] || rec[o] >= want[o]);
        if (finished) break;
        if (cycles > max_cycles) {
            for (int i = 0; i < N_IN; ++i) stalls[i] = f[i].stalls;
            for (int o = 0; o < N_OUT; ++o) { got[o] = rec[o]; extra[o] = 0; }
            return -1;
        }
    }
    long long before[N_OUT] = {rec[0], rec[1]};
    for (int i = 0; i < (watched ? tail : 0); ++i) {
        record();
        h->tick();
    }
    for (int i = 0; i < N_IN; ++i) stalls[i] = f[i].stalls;
    for (int o = 0; o < N_OUT; ++o) { got[o] = before[o]; extra[o] = rec[o] - before[o]; }
    return overflow ? -2 : cycles;
}

}  // extern "C"
