// ff_axi_burst_split: splits one command (a contiguous region of cmd_beats bus words at byte address
// cmd_addr) into AXI4 INCR bursts, one every two cycles at most, for ff_axi_read / ff_axi_write.
//
// A burst never crosses a 4 KB boundary and never exceeds MAXB = min(MAX_BURST, 256, 4096 / (DATA_W / 8))
// beats: each burst is min(beats left, beats to the next 4 KB boundary, MAXB) long.
//
// Handshakes (clk rising edges; rst_n synchronous, active low):
//   * cmd_ready = "no command being split" (a register): a command accepted at edge c is split from edge
//     c + 1 on; the edge that plans its last burst frees the splitter, so the next command is accepted one
//     edge later at the earliest.
//   * The plan register (p_valid, p_addr, p_lenm1, p_last) holds the next burst; the engine takes it with
//     p_take (only while p_valid).  A burst is planned at every edge where the splitter holds a command and
//     the plan register is empty, i.e. one edge after the previous burst was taken at the earliest: the
//     planning enables depend on registers only, never on the engine's AXI handshake (which depends on
//     AxREADY), at the cost of at most one burst per two cycles (a burst of >= 2 beats takes as long on
//     the data channel anyway).
//
// Timing: the command's address is kept as {page number, word offset in the 4 KB page}; only the offset
// (12 - log2(DATA_W / 8) bits) is added to, the page number is incremented from its own register in
// parallel, so no address-wide carry chain follows the burst-length decision.  Beats left are kept minus
// one, so "the rest fits in this burst" is the borrow of the same subtraction that updates the count.
`default_nettype none
module ff_axi_burst_split #(
  parameter integer ADDR_W = 32,     // byte address bits
  parameter integer DATA_W = 128,    // bus bits (8..1024, a power of two)
  parameter integer LEN_W = 16,      // command length bits (>= 8; commands of 1 .. 2**LEN_W - 1 beats)
  parameter integer MAX_BURST = 256  // longest burst in beats (1..256; also capped by the 4 KB page)
) (
  input  wire clk,
  input  wire rst_n,
  input  wire cmd_valid,
  output wire cmd_ready,
  input  wire [ADDR_W - 1:0] cmd_addr,   // aligned to DATA_W / 8 bytes
  input  wire [LEN_W - 1:0] cmd_beats,   // >= 1
  output reg  p_valid,
  input  wire p_take,
  output wire [ADDR_W - 1:0] p_addr,     // byte address of the burst
  output reg  [7:0] p_lenm1,             // AxLEN: beats - 1
  output reg  p_last,                    // the command's last burst
  output wire idle                       // no command held, no burst planned
);
  localparam integer SZ = $clog2(DATA_W / 8);        // log2 bytes per beat (AxSIZE)
  localparam integer PW = 12 - SZ;                   // word-offset bits within a 4 KB page
  localparam integer NW = ADDR_W - 12;               // page-number bits
  localparam integer PAGE = 1 << PW;                 // words per 4 KB page
  localparam integer MAXB = (MAX_BURST < 256 ? MAX_BURST : 256) < PAGE
                            ? (MAX_BURST < 256 ? MAX_BURST : 256) : PAGE;
  localparam [31:0] MAXB_M1 = MAXB - 1;

  initial begin
    if (DATA_W < 8 || DATA_W > 1024 || (1 << $clog2(DATA_W)) != DATA_W) begin
      $display("ERROR: ff_axi_burst_split: DATA_W %0d is not a power of two in 8..1024", DATA_W);
      $finish;
    end
    if (LEN_W < 8 || MAX_BURST < 1 || ADDR_W <= 12) begin
      $display("ERROR: ff_axi_burst_split: LEN_W %0d < 8, MAX_BURST %0d < 1 or ADDR_W %0d <= 12", LEN_W,
               MAX_BURST, ADDR_W);
      $finish;
    end
  end

  reg s_act;                  // a command is being split
  reg [NW - 1:0] s_pnum;      // page number of the next burst
  reg [PW - 1:0] s_off;       // word offset of the next burst in its page
  reg [LEN_W - 1:0] s_lm1;    // beats left - 1
  reg [NW - 1:0] p_pnum;
  reg [PW - 1:0] p_off;

  assign cmd_ready = !s_act;
  assign idle = !s_act && !p_valid;
  assign p_addr = {p_pnum, p_off, {SZ{1'b0}}};

  // Words to the page end minus one is ~s_off; the burst is capped at MAXB - 1 + 1 beats.
  wire [PW - 1:0] page_m1 = ~s_off;
  wire [PW - 1:0] maxb_m1 = MAXB_M1[PW - 1:0];  // MAXB <= PAGE: fits in PW bits
  wire page_cap;                                 // the page end comes before MAXB beats
  generate
    if (MAXB < PAGE) begin : g_maxb
      assign page_cap = (page_m1 <= maxb_m1);
    end else begin : g_page
      assign page_cap = 1'b1;
      wire _unused_maxb = &{1'b0, maxb_m1, 1'b0};
    end
    if (SZ > 0) begin : g_lsb
      wire _unused_lsb = &{1'b0, cmd_addr[SZ - 1:0], 1'b0};  // aligned: zero
    end
  endgenerate
  wire [PW - 1:0] cap_m1 = page_cap ? page_m1 : maxb_m1;
  wire [7:0] cap8_m1;                            // the same in 8 bits (MAXB <= 256)
  generate
    if (PW >= 8) begin : g_cap_wide
      assign cap8_m1 = cap_m1[7:0];  // the high bits are zero: cap_m1 <= MAXB - 1 <= 255
    end else begin : g_cap_narrow
      assign cap8_m1 = {{(8 - PW){1'b0}}, cap_m1};
    end
  endgenerate
  // beats left - 1 - cap = (beats left - cap) - 1: negative iff the rest fits in this burst.
  wire [LEN_W:0] rest = {1'b0, s_lm1} - {{(LEN_W - 7){1'b0}}, cap8_m1} - {{LEN_W{1'b0}}, 1'b1};
  wire fits = rest[LEN_W];
  wire [PW:0] off_next = {1'b0, s_off} + {1'b0, cap_m1} + {{PW{1'b0}}, 1'b1};  // carry: next page
  wire step = s_act && !p_valid;

  always @(posedge clk) begin
    if (!rst_n) begin
      s_act <= 1'b0;
      s_pnum <= {NW{1'b0}};
      s_off <= {PW{1'b0}};
      s_lm1 <= {LEN_W{1'b0}};
      p_valid <= 1'b0;
      p_pnum <= {NW{1'b0}};
      p_off <= {PW{1'b0}};
      p_lenm1 <= 8'd0;
      p_last <= 1'b0;
    end else begin
      if (cmd_valid && !s_act) begin
        s_act <= 1'b1;
        s_pnum <= cmd_addr[ADDR_W - 1:12];
        s_off <= cmd_addr[11:SZ];
        s_lm1 <= cmd_beats - {{(LEN_W - 1){1'b0}}, 1'b1};
      end
      if (step) begin
        p_valid <= 1'b1;
        p_pnum <= s_pnum;
        p_off <= s_off;
        p_last <= fits;
        p_lenm1 <= fits ? s_lm1[7:0] : cap8_m1;  // both <= MAXB - 1 <= 255
        if (fits) begin
          s_act <= 1'b0;
        end else begin
          s_lm1 <= rest[LEN_W - 1:0];
          s_off <= off_next[PW - 1:0];
          if (off_next[PW]) s_pnum <= s_pnum + {{(NW - 1){1'b0}}, 1'b1};
        end
      end else if (p_take) begin  // (step implies !p_valid, so no take at a step)
        p_valid <= 1'b0;
      end
    end
  end
endmodule
`default_nettype wire
