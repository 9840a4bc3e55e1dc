// ff_axi_read: AXI4 read engine (AR/R master) for a streaming accelerator.
//
// A command (cmd_addr: byte address aligned to DATA_W / 8, cmd_beats >= 1 words) is split into INCR bursts
// by ff_axi_burst_split (never across a 4 KB boundary, at most min(MAX_BURST, 256) beats); its words come
// out on out_* in address order, out_last on the command's last word.  ARID = 0: in-order bursts.
//
// Flow control: every R beat lands in a block-RAM FIFO (ff_fifo_bram) of DEPTH = 2**ceil(log2(OUTSTANDING
// * MAXB)) words, and an AR is issued only when the RAM has room for all its beats besides the beats of the
// bursts already issued (a word counter, `space`: - burst length at issue, + 1 per word read out of the
// RAM).  RREADY is therefore high at all times after reset: back-pressure from out_ready never stalls R, it
// holds back the next AR.  At most OUTSTANDING bursts are in flight, counted from the edge that loads
// ARVALID to the edge of the burst's last R beat.
//
// Cycle behaviour (rising edges; no back-pressure on out_ready):
//   * command accepted at edge c (cmd_ready = splitter idle) -> first burst planned at c + 1 -> AR issued
//     (ARVALID loaded) at c + 2 at the earliest; each later burst is planned one edge after the previous
//     one's AR issue; the splitter takes the next command one edge after planning the previous command's
//     last burst;
//   * an AR may be issued at edge e only if ARVALID is low or ARREADY is high at e, fewer than OUTSTANDING
//     bursts are in flight before e (a burst's last R beat at edge t frees its slot for edge t + 1), and
//     `space` before e holds the burst's beats (a word with its R beat at edge t frees its slot for t + 2);
//   * an R beat at edge t is written to the RAM, read out at t + 1 and accepted on out_* at t + 4.
// So with OUTSTANDING = 1, full-size bursts (MAXB beats, DEPTH = MAXB) follow each other every MAXB + 2 +
// (the memory's AR -> first R latency) cycles; with OUTSTANDING >= 2 the R beats of full-size bursts stream
// back to back when that latency + 2 <= (OUTSTANDING - 1) * MAXB.  pyflow/accel/axi_timing.py models all of
// this exactly.
//
// Timing (150 MHz on ECP5): all AXI and stream outputs are registers (out_* from ff_fifo_bram, its block RAM
// read behind two registers); out_ready only enters the output stage's load enables; the AR issue decision
// is an AND of ARREADY with register flags and the sign of one narrow subtraction (space - burst length),
// whose result is also the next `space`.
`default_nettype none
module ff_axi_read #(
  parameter integer ADDR_W = 32,       // byte address bits (> 12)
  parameter integer DATA_W = 128,      // bus bits (8..1024, a power of two)
  parameter integer LEN_W = 16,        // command length bits (>= 8)
  parameter integer MAX_BURST = 256,   // longest burst in beats (1..256, further capped by 4 KB)
  parameter integer OUTSTANDING = 2    // bursts in flight (>= 1)
) (
  input  wire clk,
  input  wire rst_n,                   // synchronous, active low
  // command
  input  wire cmd_valid,
  output wire cmd_ready,
  input  wire [ADDR_W - 1:0] cmd_addr,
  input  wire [LEN_W - 1:0] cmd_beats,
  // words out
  output wire [DATA_W - 1:0] out_data,
  output wire out_valid,
  input  wire out_ready,
  output wire out_last,
  // AXI4 read address / data channels
  output wire [0:0] m_axi_arid,
  output reg  [ADDR_W - 1:0] m_axi_araddr,
  output reg  [7:0] m_axi_arlen,
  output wire [2:0] m_axi_arsize,
  output wire [1:0] m_axi_arburst,
  output reg  m_axi_arvalid,
  input  wire m_axi_arready,
  input  wire [0:0] m_axi_rid,
  input  wire [DATA_W - 1:0] m_axi_rdata,
  input  wire [1:0] m_axi_rresp,
  input  wire m_axi_rlast,
  input  wire m_axi_rvalid,
  output reg  m_axi_rready,
  output wire idle                     // no command held, no burst planned or in flight, no word buffered
);
  localparam integer SZ = $clog2(DATA_W / 8);
  localparam integer PAGE = 4096 / (DATA_W / 8);
  localparam integer MB = MAX_BURST < 256 ? MAX_BURST : 256;
  localparam integer MAXB = MB < PAGE ? MB : PAGE;
  localparam integer AB0 = $clog2(OUTSTANDING * MAXB);
  localparam integer AB = AB0 < 1 ? 1 : AB0;             // FIFO address bits
  localparam integer DEPTH = 1 << AB;                    // >= OUTSTANDING bursts of MAXB beats
  localparam integer SPW = AB + 1 > 9 ? AB + 1 : 9;      // `space` bits: 0..DEPTH, and a 256-beat burst
  localparam integer OBW = $clog2(OUTSTANDING + 1);      // bursts in flight: 0..OUTSTANDING
  localparam integer QA0 = $clog2(OUTSTANDING);
  localparam integer QA = QA0 < 1 ? 1 : QA0;             // last-flag ring address bits
  localparam [31:0] OUT32 = OUTSTANDING;
  localparam [31:0] DEPTH32 = DEPTH;
  localparam [31:0] SZ32 = SZ;
  localparam [OBW - 1:0] OB_MAX = OUT32[OBW - 1:0];
  localparam [SPW - 1:0] SP_INIT = DEPTH32[SPW - 1:0];

  initial begin
    if (OUTSTANDING < 1) begin
      $display("ERROR: ff_axi_read: OUTSTANDING %0d < 1", OUTSTANDING);
      $finish;
    end
  end

  assign m_axi_arid = 1'b0;
  assign m_axi_arsize = SZ32[2:0];
  assign m_axi_arburst = 2'b01;  // INCR
  wire _unused_ok = &{1'b0, m_axi_rid, m_axi_rresp, 1'b0};  // in order, responses not checked

  // ---- bursts: split the command, issue ARs
  wire p_valid, p_last, split_idle;
  wire [ADDR_W - 1:0] p_addr;
  wire [7:0] p_lenm1;
  reg [OBW - 1:0] ob;              // bursts in flight
  // RAM words neither buffered nor reserved by a burst in flight = space + pop_d (the word read out at the
  // last edge is added one edge late, so both candidates below come from registers only).
  reg [SPW - 1:0] space;
  reg pop_d;
  wire ob_ok = (ob != OB_MAX);
  // space + pop_d - burst beats, as space + ~(beats - 1) + pop_d: its sign is "no room" and, when the burst
  // is issued, it is the next `space` (one carry chain, in parallel with the plain increment).
  wire [SPW:0] sp_take = {1'b0, space} + {1'b1, {(SPW - 8){1'b1}}, ~p_lenm1} + {{SPW{1'b0}}, pop_d};
  wire [SPW - 1:0] sp_keep = space + {{(SPW - 1){1'b0}}, pop_d};
  wire space_ok = !sp_take[SPW];
  wire issue = p_valid && (!m_axi_arvalid || m_axi_arready) && ob_ok && space_ok;

  ff_axi_burst_split #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .LEN_W(LEN_W), .MAX_BURST(MAX_BURST)) u_split (
    .clk(clk), .rst_n(rst_n), .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr),
    .cmd_beats(cmd_beats), .p_valid(p_valid), .p_take(issue), .p_addr(p_addr), .p_lenm1(p_lenm1),
    .p_last(p_last), .idle(split_idle));

  // "burst ends its command" flags of the bursts in flight, in issue order (<= OUTSTANDING entries)
  reg lastq [0:(1 << QA) - 1];
  reg [QA - 1:0] lq_w, lq_r;

  // ---- R beats into the FIFO (word + "last word of its command"); its output is out_*
  wire r_fire = m_axi_rvalid && m_axi_rready;
  wire r_end = r_fire && m_axi_rlast;
  wire ram_pop, fifo_empty;

  ff_fifo_bram #(.WIDTH(DATA_W + 1), .AB(AB)) u_fifo (
    .clk(clk), .rst_n(rst_n), .wr_en(r_fire), .wr_data({m_axi_rlast && lastq[lq_r], m_axi_rdata}),
    .out_data({out_last, out_data}), .out_valid(out_valid), .out_ready(out_ready), .ram_pop(ram_pop),
    .empty(fifo_empty));

  always @(posedge clk) begin
    if (issue) lastq[lq_w] <= p_last;
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      m_axi_araddr <= {ADDR_W{1'b0}};
      m_axi_arlen <= 8'd0;
      m_axi_arvalid <= 1'b0;
      m_axi_rready <= 1'b0;
      ob <= {OBW{1'b0}};
      space <= SP_INIT;
      pop_d <= 1'b0;
      lq_w <= {QA{1'b0}};
      lq_r <= {QA{1'b0}};
    end else begin
      m_axi_rready <= 1'b1;  // every beat has a FIFO slot reserved
      if (issue) begin
        m_axi_arvalid <= 1'b1;
        m_axi_araddr <= p_addr;
        m_axi_arlen <= p_lenm1;
        lq_w <= lq_w + 1'b1;
      end else if (m_axi_arready) begin
        m_axi_arvalid <= 1'b0;
      end
      if (issue && !r_end) ob <= ob + 1'b1;
      else if (!issue && r_end) ob <= ob - 1'b1;
      // space: - burst beats at issue, + 1 per word leaving the RAM (its output stages have their own room)
      space <= issue ? sp_take[SPW - 1:0] : sp_keep;
      pop_d <= ram_pop;
      if (r_end) lq_r <= lq_r + 1'b1;
    end
  end

  assign idle = split_idle && !m_axi_arvalid && (ob == {OBW{1'b0}}) && fifo_empty;
endmodule
`default_nettype wire
