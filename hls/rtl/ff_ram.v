// ff_ram: simple dual-port RAM, one write port and one read port, registered read (data one cycle after the
// read enable).  The accelerator's on-chip buffers; block RAM under synthesis (ram_style "block"), whose
// initial contents are zero (so a word read before it was written is 0, in hardware and in a four-state
// simulator alike: padding lanes beyond a run-time length are then finite, and masked by the kernels).
`default_nettype none
module ff_ram #(
  parameter integer WIDTH = 128,
  parameter integer DEPTH = 256,
  parameter integer AB = 8              // address bits: 2**AB >= DEPTH
) (
  input  wire clk,
  input  wire wr_en,
  input  wire [AB - 1:0] wr_addr,
  input  wire [WIDTH - 1:0] wr_data,
  input  wire rd_en,
  input  wire [AB - 1:0] rd_addr,
  output reg  [WIDTH - 1:0] rd_data
);
  (* ram_style = "block" *) reg [WIDTH - 1:0] mem [0:DEPTH - 1];
  integer i;
  initial begin
    for (i = 0; i < DEPTH; i = i + 1) mem[i] = {WIDTH{1'b0}};
    rd_data = {WIDTH{1'b0}};
  end
  always @(posedge clk) begin
    if (wr_en) mem[wr_addr] <= wr_data;
    if (rd_en) rd_data <= mem[rd_addr];
  end
endmodule
`default_nettype wire
