// ff_axi_mem: simulation-only AXI4 slave memory (not for synthesis).  Replaces cocotbext-axi's Python
// AxiRam for the bulk traffic of long simulations: all of it is plain Verilog, nothing runs in Python per
// beat.
//
// Memory: `mem[0:WORDS-1]` of DATA_W bits (WORDS a power of two); word i is at byte address i * DATA_W / 8.
// A cocotb test reads and writes it through the hierarchy (dut.<inst>.mem[i]).  Initial contents:
// $readmemh of the file named by the plusarg +<INIT_PLUSARG>=<file>, else of INIT_FILE when that is not ""
// (hex, one word per line, from word 0; a shorter file leaves the rest undefined).
//
// Bursts: INCR only, ARSIZE / AWSIZE = log2(DATA_W / 8), IDs ignored (answers in order, RID / BID 0).
// A burst crossing a 4 KB boundary, another burst type or size, an address beyond the memory or a WLAST
// in the wrong place prints "ERROR: ff_axi_mem: ..." and counts in `errors` (the access still happens).
//
// Timing (rising edges; an edge "accepts" a beat when VALID and READY are both high at it):
//   * ARREADY = fewer than QUEUE read bursts accepted and not yet started (a register-derived flag).
//   * A read burst whose AR is accepted at edge a has its first R beat at edge max(a + READ_LATENCY,
//     e + 1), where e is the edge of the previous burst's last R beat, given RREADY high: bursts queue in
//     order and their beats follow back to back, one per cycle, without a bubble between bursts; a low
//     RREADY holds RVALID / RDATA and delays every later beat one-for-one.  READ_LATENCY >= 2.
//   * AWREADY = fewer than QUEUE write bursts accepted and not yet started.  WREADY = a write burst is
//     open or one is queued, and fewer than QUEUE B responses are pending: the first W beat of a burst can
//     be accepted from the edge after its AW handshake on; beats of queued bursts follow back to back.
//   * B of a burst whose last W beat is accepted at edge w: at edge max(w + WRITE_LATENCY, e + 1), e = the
//     previous B's edge, given BREADY high.  WRITE_LATENCY >= 2.
//   * Reads and writes are independent, not ordered against each other: a W beat accepted at edge w
//     changes the word at w; an R beat carries the word as it was when RDATA was loaded (before the edge
//     r - 1 for a beat accepted at edge r while RREADY stays high).
`default_nettype none
module ff_axi_mem #(
  parameter integer DATA_W = 128,           // bus bits (8..1024, a power of two)
  parameter integer ADDR_W = 32,            // byte address bits
  parameter integer WORDS = 65536,          // memory words (a power of two)
  parameter integer READ_LATENCY = 2,       // AR accepted -> first R beat, cycles (>= 2)
  parameter integer WRITE_LATENCY = 2,      // last W beat accepted -> B, cycles (>= 2)
  parameter integer QUEUE = 16,             // read bursts / write bursts / B responses queued
  parameter INIT_FILE = "",                 // $readmemh file ("" = none)
  parameter INIT_PLUSARG = "ff_mem_init"    // +ff_mem_init=<file> overrides INIT_FILE
) (
  input  wire clk,
  input  wire rst_n,                        // synchronous, active low (queues empty; memory kept)
  input  wire [0:0] s_axi_arid,
  input  wire [ADDR_W - 1:0] s_axi_araddr,
  input  wire [7:0] s_axi_arlen,
  input  wire [2:0] s_axi_arsize,
  input  wire [1:0] s_axi_arburst,
  input  wire s_axi_arvalid,
  output wire s_axi_arready,
  output wire [0:0] s_axi_rid,
  output reg  [DATA_W - 1:0] s_axi_rdata,
  output wire [1:0] s_axi_rresp,
  output reg  s_axi_rlast,
  output reg  s_axi_rvalid,
  input  wire s_axi_rready,
  input  wire [0:0] s_axi_awid,
  input  wire [ADDR_W - 1:0] s_axi_awaddr,
  input  wire [7:0] s_axi_awlen,
  input  wire [2:0] s_axi_awsize,
  input  wire [1:0] s_axi_awburst,
  input  wire s_axi_awvalid,
  output wire s_axi_awready,
  input  wire [DATA_W - 1:0] s_axi_wdata,
  input  wire [DATA_W / 8 - 1:0] s_axi_wstrb,
  input  wire s_axi_wlast,
  input  wire s_axi_wvalid,
  output wire s_axi_wready,
  output wire [0:0] s_axi_bid,
  output wire [1:0] s_axi_bresp,
  output reg  s_axi_bvalid,
  input  wire s_axi_bready
);
  localparam integer SZ = $clog2(DATA_W / 8);
  localparam integer WA = $clog2(WORDS);     // word index bits
  localparam integer QB = $clog2(QUEUE);
  localparam integer BL = DATA_W / 8;        // byte lanes
  localparam [31:0] SZ32 = SZ;
  localparam [31:0] RL32 = READ_LATENCY - 1;
  localparam [31:0] WL32 = WRITE_LATENCY - 1;
  localparam [63:0] RL_M1 = {32'd0, RL32};  // the load edge of a first R beat is READ_LATENCY - 1 after AR
  localparam [63:0] WL_M1 = {32'd0, WL32};
  localparam [31:0] QUEUE32 = QUEUE;
  localparam [QB:0] QFULL = QUEUE32[QB:0];

  reg [DATA_W - 1:0] mem [0:WORDS - 1];
  reg [31:0] errors;                         // protocol / range errors seen (see the header)
  reg [63:0] cyc;                            // edges since reset

  reg [8 * 1024 - 1:0] init_name;
  initial begin
    if (WORDS < 1 || (1 << WA) != WORDS || QUEUE < 2 || (1 << QB) != QUEUE || READ_LATENCY < 2 ||
        WRITE_LATENCY < 2 || ADDR_W < SZ + WA) begin
      $display("ERROR: ff_axi_mem: bad parameters (WORDS %0d and QUEUE %0d powers of two, latencies >= 2)",
               WORDS, QUEUE);
      $finish;
    end
    if ($value$plusargs({INIT_PLUSARG, "=%s"}, init_name)) $readmemh(init_name, mem);
    else if (INIT_FILE != "") $readmemh(INIT_FILE, mem);
  end

  assign s_axi_rid = 1'b0;
  assign s_axi_rresp = 2'b00;
  assign s_axi_bid = 1'b0;
  assign s_axi_bresp = 2'b00;
  wire _unused_ok = &{1'b0, s_axi_arid, s_axi_awid, 1'b0};

  // A burst this model does not take: not INCR, not full width, unaligned, across 4 KB or beyond the memory.
  function automatic bad_burst(input [ADDR_W - 1:0] addr, input [7:0] len, input [2:0] size, input [1:0] burst);
    reg [13:0] end_byte;  // one past the burst's last byte, from the start of its page
    begin
      end_byte = {2'b0, addr[11:0]} + (({6'd0, len} + 14'd1) << SZ);
      bad_burst = end_byte > 14'd4096 || size != SZ32[2:0] || burst != 2'b01 || (addr << (ADDR_W - SZ)) != 0 ||
                  (addr >> (SZ + WA)) != 0;
    end
  endfunction

  // ---- read bursts: queue of (word, len, due edge); R register loaded one beat per cycle
  reg [WA - 1:0] arq_word [0:QUEUE - 1];
  reg [7:0] arq_len [0:QUEUE - 1];
  reg [63:0] arq_due [0:QUEUE - 1];
  reg [QB:0] arq_n;
  reg [QB - 1:0] arq_w, arq_r;
  reg r_act;                 // a burst has beats left to load
  reg [WA - 1:0] r_word;     // next word to load
  reg [7:0] r_left;          // beats left to load after the one in the R register
  assign s_axi_arready = (arq_n != QFULL);
  wire ar_fire = s_axi_arvalid && s_axi_arready;
  wire r_load = !s_axi_rvalid || s_axi_rready;
  wire r_start = r_load && !r_act && arq_n != 0 && arq_due[arq_r] <= cyc;

  // ---- write bursts: AW queue, open burst, B queue of due edges
  reg [WA - 1:0] awq_word [0:QUEUE - 1];
  reg [7:0] awq_len [0:QUEUE - 1];
  reg [QB:0] awq_n, bq_n;
  reg [QB - 1:0] awq_w, awq_r, bq_w, bq_r;
  reg [63:0] bq_due [0:QUEUE - 1];
  reg w_act;
  reg [WA - 1:0] w_word;
  reg [7:0] w_left;          // beats after the next one
  assign s_axi_awready = (awq_n != QFULL);
  assign s_axi_wready = (w_act || awq_n != 0) && bq_n != QFULL;
  wire aw_fire = s_axi_awvalid && s_axi_awready;
  wire w_fire = s_axi_wvalid && s_axi_wready;
  wire [WA - 1:0] w_at = w_act ? w_word : awq_word[awq_r];
  wire [7:0] w_rest = w_act ? w_left : awq_len[awq_r];
  wire w_end = w_fire && w_rest == 8'd0;
  wire b_start = (!s_axi_bvalid || s_axi_bready) && bq_n != 0 && bq_due[bq_r] <= cyc;

  wire ar_bad = ar_fire && bad_burst(s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst);
  wire aw_bad = aw_fire && bad_burst(s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst);
  wire wlast_bad = w_fire && (s_axi_wlast != (w_rest == 8'd0));

  integer i;
  always @(posedge clk) begin
    if (ar_fire) begin
      arq_word[arq_w] <= s_axi_araddr[SZ + WA - 1:SZ];
      arq_len[arq_w] <= s_axi_arlen;
      arq_due[arq_w] <= cyc + RL_M1;
      if (ar_bad) begin
        $display("ERROR: ff_axi_mem: bad read burst addr 0x%0h len %0d size %0d burst %0d", s_axi_araddr,
                 s_axi_arlen, s_axi_arsize, s_axi_arburst);
      end
    end
    if (aw_fire) begin
      awq_word[awq_w] <= s_axi_awaddr[SZ + WA - 1:SZ];
      awq_len[awq_w] <= s_axi_awlen;
      if (aw_bad) begin
        $display("ERROR: ff_axi_mem: bad write burst addr 0x%0h len %0d size %0d burst %0d", s_axi_awaddr,
                 s_axi_awlen, s_axi_awsize, s_axi_awburst);
      end
    end
    if (w_fire) begin
      if (&s_axi_wstrb) begin
        mem[w_at] <= s_axi_wdata;
      end else begin
        for (i = 0; i < BL; i = i + 1)
          if (s_axi_wstrb[i]) mem[w_at][8 * i +: 8] <= s_axi_wdata[8 * i +: 8];
      end
      if (wlast_bad) $display("ERROR: ff_axi_mem: WLAST %0d on a beat with %0d beats after it", s_axi_wlast, w_rest);
    end
    if (w_end) bq_due[bq_w] <= cyc + WL_M1;
    if (r_load) begin
      if (r_act) s_axi_rdata <= mem[r_word];
      else if (r_start) s_axi_rdata <= mem[arq_word[arq_r]];
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      cyc <= 64'd0;
      errors <= 32'd0;
      arq_n <= 0;
      arq_w <= 0;
      arq_r <= 0;
      r_act <= 1'b0;
      r_word <= 0;
      r_left <= 8'd0;
      s_axi_rvalid <= 1'b0;
      s_axi_rlast <= 1'b0;
      awq_n <= 0;
      awq_w <= 0;
      awq_r <= 0;
      bq_n <= 0;
      bq_w <= 0;
      bq_r <= 0;
      w_act <= 1'b0;
      w_word <= 0;
      w_left <= 8'd0;
      s_axi_bvalid <= 1'b0;
    end else begin
      cyc <= cyc + 64'd1;
      errors <= errors + {31'd0, ar_bad} + {31'd0, aw_bad} + {31'd0, wlast_bad};
      // reads
      if (ar_fire) arq_w <= arq_w + 1'b1;
      if (ar_fire && !r_start) arq_n <= arq_n + 1'b1;
      else if (!ar_fire && r_start) arq_n <= arq_n - 1'b1;
      if (r_load) begin
        if (r_act) begin
          s_axi_rvalid <= 1'b1;
          s_axi_rlast <= (r_left == 8'd1);
          r_word <= r_word + 1'b1;
          r_left <= r_left - 8'd1;
          r_act <= (r_left != 8'd1);
        end else if (r_start) begin
          s_axi_rvalid <= 1'b1;
          s_axi_rlast <= (arq_len[arq_r] == 8'd0);
          r_word <= arq_word[arq_r] + 1'b1;
          r_left <= arq_len[arq_r];
          r_act <= (arq_len[arq_r] != 8'd0);
          arq_r <= arq_r + 1'b1;
        end else begin
          s_axi_rvalid <= 1'b0;
        end
      end
      // writes
      if (aw_fire) awq_w <= awq_w + 1'b1;
      if (aw_fire && !(w_fire && !w_act)) awq_n <= awq_n + 1'b1;
      else if (!aw_fire && w_fire && !w_act) awq_n <= awq_n - 1'b1;
      if (w_fire) begin
        if (!w_act) awq_r <= awq_r + 1'b1;
        w_act <= (w_rest != 8'd0);
        w_word <= w_at + 1'b1;
        w_left <= w_rest - 8'd1;
      end
      if (w_end) bq_w <= bq_w + 1'b1;
      if (w_end && !b_start) bq_n <= bq_n + 1'b1;
      else if (!w_end && b_start) bq_n <= bq_n - 1'b1;
      if (!s_axi_bvalid || s_axi_bready) begin
        s_axi_bvalid <= b_start;
        if (b_start) bq_r <= bq_r + 1'b1;
      end
    end
  end
endmodule
`default_nettype wire
