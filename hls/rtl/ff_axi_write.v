// ff_axi_write: AXI4 write engine (AW/W/B master) for a streaming accelerator.
//
// A command (cmd_addr: byte address aligned to DATA_W / 8, cmd_beats >= 1 words) is split into INCR bursts
// by ff_axi_burst_split (never across a 4 KB boundary, at most min(MAX_BURST, 256) beats); exactly
// cmd_beats words of in_* per command, in order, become the W beats (WSTRB all ones, WLAST on each
// burst's last beat).  `done` pulses for one cycle after the B response of a command's last burst.
// AWID = 0: in-order bursts.  Up to OUTSTANDING bursts are in flight (AW issued, B not yet received); their
// W beats follow their AWs in order, so with OUTSTANDING >= 2 the W channel streams across bursts while
// earlier B responses are still on their way.
//
// An AW is issued as soon as the burst is planned (it does not wait for the burst's data): a slow data
// source holds the W channel open.  Cycle behaviour (rising edges, no back-pressure):
//   * command accepted at edge c -> first burst planned at c + 1 -> AW issued (AWVALID loaded) at c + 2 at
//     the earliest; each later burst is planned one edge after the previous one's AW issue and issued
//     while fewer than OUTSTANDING bursts are in flight before the edge (a B at edge t frees its slot for
//     edge t + 1);
//   * the W beats of a burst are taken from in_* from the edge after its AW issue on (in_ready is a function
//     of registers only), one per cycle; a taken word is in WDATA from the next cycle, a W stall moves it
//     into a one-word skid register (in_ready low until the skid empties);
//   * B at edge t -> `done` high in the cycle after t (a register) when the burst ends its command.
// So with OUTSTANDING = 1, bursts of L beats follow each other every L + 2 + (the memory's last W -> B
// latency) cycles; with OUTSTANDING >= 2 the W beats of full-size bursts stream back to back when that
// latency + 2 <= (OUTSTANDING - 1) * L.  pyflow/accel/axi_timing.py models this with each memory model.
//
// Timing (150 MHz on ECP5): all AXI outputs, `done` and the W data are registers; in_ready is a NOR of
// two register flags; WREADY only steers the W register / skid loads.
`default_nettype none
module ff_axi_write #(
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
  // words in
  input  wire [DATA_W - 1:0] in_data,
  input  wire in_valid,
  output wire in_ready,
  output reg  done,                    // one-cycle pulse: a command's last B arrived
  // AXI4 write address / data / response channels
  output wire [0:0] m_axi_awid,
  output reg  [ADDR_W - 1:0] m_axi_awaddr,
  output reg  [7:0] m_axi_awlen,
  output wire [2:0] m_axi_awsize,
  output wire [1:0] m_axi_awburst,
  output reg  m_axi_awvalid,
  input  wire m_axi_awready,
  output reg  [DATA_W - 1:0] m_axi_wdata,
  output wire [DATA_W / 8 - 1:0] m_axi_wstrb,
  output reg  m_axi_wlast,
  output reg  m_axi_wvalid,
  input  wire m_axi_wready,
  input  wire [0:0] m_axi_bid,
  input  wire [1:0] m_axi_bresp,
  input  wire m_axi_bvalid,
  output reg  m_axi_bready,
  output wire idle                     // no command held, no burst planned or in flight
);
  localparam integer SZ = $clog2(DATA_W / 8);
  localparam integer OBW = $clog2(OUTSTANDING + 1);      // bursts in flight: 0..OUTSTANDING
  localparam integer QA0 = $clog2(OUTSTANDING);
  localparam integer QA = QA0 < 1 ? 1 : QA0;             // burst ring address bits
  localparam [31:0] OUT32 = OUTSTANDING;
  localparam [31:0] SZ32 = SZ;
  localparam [OBW - 1:0] OB_MAX = OUT32[OBW - 1:0];

  initial begin
    if (OUTSTANDING < 1) begin
      $display("ERROR: ff_axi_write: OUTSTANDING %0d < 1", OUTSTANDING);
      $finish;
    end
  end

  assign m_axi_awid = 1'b0;
  assign m_axi_awsize = SZ32[2:0];
  assign m_axi_awburst = 2'b01;  // INCR
  assign m_axi_wstrb = {(DATA_W / 8){1'b1}};
  wire _unused_ok = &{1'b0, m_axi_bid, m_axi_bresp, 1'b0};  // in order, responses not checked

  // ---- bursts: split the command, issue AWs
  wire p_valid, p_last, split_idle;
  wire [ADDR_W - 1:0] p_addr;
  wire [7:0] p_lenm1;
  reg [OBW - 1:0] ob;              // bursts in flight (AW issued, B not received)
  wire issue = p_valid && (!m_axi_awvalid || m_axi_awready) && (ob != OB_MAX);

  ff_axi_burst_split #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .LEN_W(LEN_W), .MAX_BURST(MAX_BURST)) u_split (
    .clk(clk), .rst_n(rst_n), .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr),
    .cmd_beats(cmd_beats), .p_valid(p_valid), .p_take(issue), .p_addr(p_addr), .p_lenm1(p_lenm1),
    .p_last(p_last), .idle(split_idle));

  // Bursts in flight, in issue order: AWLEN (for WLAST) and "ends its command" (for done).
  reg [7:0] lenq [0:(1 << QA) - 1];
  reg lastq [0:(1 << QA) - 1];
  reg [QA - 1:0] q_w, wq_r, bq_r;
  reg [OBW - 1:0] wq_n;            // bursts whose W beats are not all taken (head = current W burst)
  reg [7:0] w_cnt;                 // beats of the current W burst taken so far

  // ---- W: input words -> W register (+ one-word skid while WREADY is low)
  reg sv, sl;                      // skid holds a word / its WLAST
  reg [DATA_W - 1:0] sd;
  assign in_ready = (wq_n != {OBW{1'b0}}) && !sv;
  wire take = in_valid && in_ready;
  wire beat_last = (w_cnt == lenq[wq_r]);
  wire w_free = !m_axi_wvalid || m_axi_wready;
  wire b_fire = m_axi_bvalid && m_axi_bready;

  always @(posedge clk) begin
    if (issue) begin
      lenq[q_w] <= p_lenm1;
      lastq[q_w] <= p_last;
    end
    if (w_free) begin
      if (sv) begin
        m_axi_wdata <= sd;
      end else if (take) begin
        m_axi_wdata <= in_data;
      end
    end else if (take) begin
      sd <= in_data;
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      m_axi_awaddr <= {ADDR_W{1'b0}};
      m_axi_awlen <= 8'd0;
      m_axi_awvalid <= 1'b0;
      m_axi_wlast <= 1'b0;
      m_axi_wvalid <= 1'b0;
      m_axi_bready <= 1'b0;
      ob <= {OBW{1'b0}};
      q_w <= {QA{1'b0}};
      wq_r <= {QA{1'b0}};
      bq_r <= {QA{1'b0}};
      wq_n <= {OBW{1'b0}};
      w_cnt <= 8'd0;
      sv <= 1'b0;
      sl <= 1'b0;
      done <= 1'b0;
    end else begin
      m_axi_bready <= 1'b1;
      if (issue) begin
        m_axi_awvalid <= 1'b1;
        m_axi_awaddr <= p_addr;
        m_axi_awlen <= p_lenm1;
        q_w <= q_w + 1'b1;
      end else if (m_axi_awready) begin
        m_axi_awvalid <= 1'b0;
      end
      if (issue && !b_fire) ob <= ob + 1'b1;
      else if (!issue && b_fire) ob <= ob - 1'b1;
      // W burst bookkeeping
      if (take) begin
        w_cnt <= beat_last ? 8'd0 : w_cnt + 8'd1;
        if (beat_last) wq_r <= wq_r + 1'b1;
      end
      if (issue && !(take && beat_last)) wq_n <= wq_n + 1'b1;
      else if (!issue && take && beat_last) wq_n <= wq_n - 1'b1;
      // W register and skid
      if (w_free) begin
        if (sv) begin
          m_axi_wlast <= sl;
          m_axi_wvalid <= 1'b1;
          sv <= 1'b0;
        end else if (take) begin
          m_axi_wlast <= beat_last;
          m_axi_wvalid <= 1'b1;
        end else begin
          m_axi_wvalid <= 1'b0;
        end
      end else if (take) begin
        sl <= beat_last;
        sv <= 1'b1;
      end
      // B
      done <= b_fire && lastq[bq_r];
      if (b_fire) bq_r <= bq_r + 1'b1;
    end
  end

  assign idle = split_idle && !m_axi_awvalid && (ob == {OBW{1'b0}}) && !m_axi_wvalid && !sv;
endmodule
`default_nettype wire
