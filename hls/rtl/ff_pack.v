// ff_pack: collects a stream of single elements into words of LANES elements (element 0 in the least
// significant bits) and writes each word to an ff_ram at base, base + 1, ...; the last word of a command
// is written with zeros in its unused lanes.  Always ready.
//
// Cycle behaviour: a command is taken at edge t (start); when the element accepted at edge u completes a
// word (or is the command's last element), wr_en / wr_addr / wr_data are registers loaded at u and the RAM
// writes the word at edge u + 1.  `done` rises at u for the command's last element (the RAM holds the word
// one edge later, before any ff_ram_stream started on done can read it) and stays high until the next start.
`default_nettype none
module ff_pack #(
  parameter integer EW = 16,            // element width
  parameter integer LANES = 8,
  parameter integer AB = 8,             // RAM address bits
  parameter integer CB = 16             // element counter bits
) (
  input  wire clk,
  input  wire rst_n,
  input  wire start,
  input  wire [AB - 1:0] base,
  input  wire [CB - 1:0] count,         // elements in the command (>= 1)
  output reg  done,
  input  wire in_valid,
  input  wire [EW - 1:0] in_data,
  output wire in_ready,
  output reg  wr_en,
  output reg  [AB - 1:0] wr_addr,
  output reg  [LANES * EW - 1:0] wr_data
);
  localparam integer LB = (LANES > 1) ? $clog2(LANES) : 1;
  localparam [31:0] LAST32 = LANES - 1;
  localparam [LB - 1:0] LAST_LANE = LAST32[LB - 1:0];
  reg [LANES * EW - 1:0] acc;
  reg [LB - 1:0] lane;
  reg [CB - 1:0] left;                  // elements still to come
  reg [AB - 1:0] next_addr;
  reg busy;
  wire take = busy && in_valid;
  // the element into its lane (the lanes after it are still zero): a lane decode, no `lane * EW` shift
  // amount (Yosys makes a multiplier of it when EW is not a power of two)
  wire [LANES * EW - 1:0] merged;
  genvar l;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      localparam [LB - 1:0] LANE = l;
      assign merged[l * EW +: EW] = (lane == LANE) ? in_data : acc[l * EW +: EW];
    end
  endgenerate
  wire word_end = (lane == LAST_LANE) || (left == {{(CB - 1){1'b0}}, 1'b1});
  assign in_ready = 1'b1;

  always @(posedge clk) begin
    wr_en <= 1'b0;
    if (!rst_n) begin
      busy <= 1'b0;
      done <= 1'b0;
      lane <= {LB{1'b0}};
      acc <= {LANES * EW{1'b0}};
    end else if (start) begin
      busy <= 1'b1;
      done <= 1'b0;
      left <= count;
      next_addr <= base;
      lane <= {LB{1'b0}};
      acc <= {LANES * EW{1'b0}};
    end else if (take) begin
      left <= left - {{(CB - 1){1'b0}}, 1'b1};
      if (word_end) begin
        wr_en <= 1'b1;
        wr_addr <= next_addr;
        wr_data <= merged;
        next_addr <= next_addr + {{(AB - 1){1'b0}}, 1'b1};
        lane <= {LB{1'b0}};
        acc <= {LANES * EW{1'b0}};
        if (left == {{(CB - 1){1'b0}}, 1'b1}) begin
          busy <= 1'b0;
          done <= 1'b1;
        end
      end else begin
        lane <= lane + {{(LB - 1){1'b0}}, 1'b1};
        acc <= merged;
      end
    end
  end
endmodule
`default_nettype wire
