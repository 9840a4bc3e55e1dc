// ff_ram: simple dual-port RAM, one write port and one read port, registered read (data one cycle after the
// read enable).  The accelerator's on-chip buffers; block RAM under synthesis (ram_style "block").
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
  always @(posedge clk) begin
    if (wr_en) mem[wr_addr] <= wr_data;
    if (rd_en) rd_data <= mem[rd_addr];
  end
endmodule
`default_nettype wire
