// ff_fifo_bram: FIFO of 2**AB words in block RAM with a registered first-word-fall-through output.
//
// The writer never writes when the FIFO is full (ff_axi_read reserves room before it asks for data; no
// full flag).  A word leaves the RAM (`ram_pop`) through a two-stage read pipeline: the RAM's read
// register (q1) and a second register (q2), then lands in a 4-entry skid queue / the output register.
// Reads are issued only while fewer than 4 words are in that pipeline, queue and output register, so
// neither q1 nor q2 ever has to hold: both load on every clock edge (free running).
//
// Cycle behaviour: a word written at edge t is read from the RAM at t + 1 at the earliest, is in q2 after
// t + 2, in out_data after t + 3 and accepted at t + 4 (out_ready high): four cycles, one word per cycle.
//
// Timing: an ECP5 DP16KD delivers its read data ~5.6 ns after the clock, too late for any logic at 150 MHz.
// With `define FLATFLOW_ECP5_DSP (the project's ECP5 synthesis, pyflow/synth) q2 is a wire and the memory is
// named outreg_mem, so the script's post-synthesis `setparam` turns on the DP16KD output register
// (REGMODE OUTREG, output clock enable tied high by Yosys) in q2's place: the same cycles, the data out of
// a register.  out_ready only enters the output register's and queue's load enables; the RAM read enable
// is a function of registers (pointer compare, occupancy count).
`default_nettype none
module ff_fifo_bram #(
  parameter integer WIDTH = 129,
  parameter integer AB = 9              // address bits (>= 1): 2**AB words
) (
  input  wire clk,
  input  wire rst_n,                    // synchronous, active low
  input  wire wr_en,
  input  wire [WIDTH - 1:0] wr_data,
  output reg  [WIDTH - 1:0] out_data,
  output reg  out_valid,
  input  wire out_ready,
  output wire ram_pop,                  // a word was read out of the RAM at this edge
  output wire empty                     // no word anywhere in the FIFO
);
`ifdef FLATFLOW_ECP5_DSP
  (* ram_style = "block" *) reg [WIDTH - 1:0] outreg_mem [0:(1 << AB) - 1];
`else
  reg [WIDTH - 1:0] outreg_mem [0:(1 << AB) - 1];
`endif
  reg [AB:0] wptr, rptr;
  reg [WIDTH - 1:0] q1;
  wire [WIDTH - 1:0] q2;
  reg v1, v2;                           // q1 / q2 hold a word read from the RAM
  reg [2:0] occ;                        // words in q1, q2, the skid queue and out_data (0..4)
  reg [WIDTH - 1:0] sq [0:3];           // skid queue (LUT RAM)
  reg [1:0] sq_w, sq_r;
  reg [2:0] sq_n;

  wire ram_empty = (wptr == rptr);
  assign ram_pop = !ram_empty && (occ != 3'd4);
  wire out_fire = out_valid && out_ready;
  wire out_load = !out_valid || out_ready;
  wire from_sq = out_load && (sq_n != 3'd0);
  wire bypass = out_load && (sq_n == 3'd0) && v2;  // q2 straight into out_data
  wire sq_push = v2 && !bypass;
  assign empty = ram_empty && (occ == 3'd0);

  always @(posedge clk) begin
    if (wr_en) outreg_mem[wptr[AB - 1:0]] <= wr_data;
    if (ram_pop) q1 <= outreg_mem[rptr[AB - 1:0]];
    if (sq_push) sq[sq_w] <= q2;
    if (from_sq) out_data <= sq[sq_r];
    else if (bypass) out_data <= q2;
  end

`ifdef FLATFLOW_ECP5_DSP
  assign q2 = q1;  // the DP16KD output register (see the header)
`else
  reg [WIDTH - 1:0] q2_r;
  always @(posedge clk) q2_r <= q1;
  assign q2 = q2_r;
`endif

  always @(posedge clk) begin
    if (!rst_n) begin
      wptr <= {(AB + 1){1'b0}};
      rptr <= {(AB + 1){1'b0}};
      v1 <= 1'b0;
      v2 <= 1'b0;
      occ <= 3'd0;
      sq_w <= 2'd0;
      sq_r <= 2'd0;
      sq_n <= 3'd0;
      out_valid <= 1'b0;
    end else begin
      if (wr_en) wptr <= wptr + 1'b1;
      if (ram_pop) rptr <= rptr + 1'b1;
      v1 <= ram_pop;
      v2 <= v1;
      if (ram_pop && !out_fire) occ <= occ + 3'd1;
      else if (!ram_pop && out_fire) occ <= occ - 3'd1;
      if (sq_push) sq_w <= sq_w + 2'd1;
      if (from_sq) sq_r <= sq_r + 2'd1;
      if (sq_push && !from_sq) sq_n <= sq_n + 3'd1;
      else if (!sq_push && from_sq) sq_n <= sq_n - 3'd1;
      if (out_load) out_valid <= from_sq || bypass;
    end
  end
endmodule
`default_nettype wire
