// ff_ram_stream: reads words out of an ff_ram as a valid/ready stream, along an address pattern given by a
// start command: `rows` rows of `row_words` words, row r at base + r * stride (stride 0 replays one row).
//
// Cycle behaviour (out_ready high): the command is taken at edge t (start && idle); the RAM read enable and
// address are registers loaded at t + 1, the word is in the RAM's read register after t + 2 and in the output
// queue after t + 3 (out_valid from then on, first handshake at t + 4); then one word per cycle.  Reads are
// issued against credits (four words may be in flight or in the 4-entry output queue), so a low out_ready
// never loses a word and the RAM read enable depends on registers only.
`default_nettype none
module ff_ram_stream #(
  parameter integer WIDTH = 128,
  parameter integer AB = 8,             // RAM address bits
  parameter integer CB = 16             // bits of the row / word counters
) (
  input  wire clk,
  input  wire rst_n,
  input  wire start,
  input  wire [AB - 1:0] base,
  input  wire [CB - 1:0] row_words,     // >= 1
  input  wire [CB - 1:0] rows,          // >= 1
  input  wire [AB - 1:0] stride,
  output wire idle,                     // no command in progress and nothing left to deliver
  // RAM read port
  output reg  rd_en,
  output reg  [AB - 1:0] rd_addr,
  input  wire [WIDTH - 1:0] rd_data,
  // stream out
  output wire [WIDTH - 1:0] out_data,
  output wire out_valid,
  input  wire out_ready
);
  reg active;                           // addresses left to issue
  reg [CB - 1:0] word_left, rows_left;  // words left in the row (incl. the next), rows left after this one
  reg [AB - 1:0] row_base, next_addr;
  reg [CB - 1:0] row_len;
  reg [AB - 1:0] row_stride;
  reg got;                              // rd_data holds a word read at the previous edge
  // 4-entry output queue
  reg [WIDTH - 1:0] q [0:3];
  reg [1:0] qw, qr;
  reg [2:0] qn;
  reg [2:0] credits;                    // queue entries not yet claimed by an issued read
  wire out_fire = out_valid && out_ready;
  wire issue = active && (credits != 3'd0);
  assign out_valid = (qn != 3'd0);
  assign out_data = q[qr];
  assign idle = !active && !got && (qn == 3'd0) && !rd_en;

  always @(posedge clk) begin
    if (!rst_n) begin
      active <= 1'b0;
      rd_en <= 1'b0;
      got <= 1'b0;
      qn <= 3'd0;
      qw <= 2'd0;
      qr <= 2'd0;
      credits <= 3'd4;
    end else begin
      rd_en <= issue;
      got <= rd_en;
      credits <= credits - {2'b0, issue} + {2'b0, out_fire};
      if (start && idle) begin
        active <= 1'b1;
        row_base <= base;
        next_addr <= base;
        row_len <= row_words;
        word_left <= row_words;
        rows_left <= rows - {{(CB - 1){1'b0}}, 1'b1};
        row_stride <= stride;
      end else if (issue) begin
        rd_addr <= next_addr;
        if (word_left == {{(CB - 1){1'b0}}, 1'b1}) begin
          if (rows_left == {CB{1'b0}}) begin
            active <= 1'b0;
          end else begin
            rows_left <= rows_left - {{(CB - 1){1'b0}}, 1'b1};
            row_base <= row_base + row_stride;
            next_addr <= row_base + row_stride;
          end
          word_left <= row_len;
        end else begin
          word_left <= word_left - {{(CB - 1){1'b0}}, 1'b1};
          next_addr <= next_addr + {{(AB - 1){1'b0}}, 1'b1};
        end
      end
      // queue: push the RAM word (got), pop on out_fire
      if (got) begin
        q[qw] <= rd_data;
        qw <= qw + 2'd1;
      end
      if (out_fire) qr <= qr + 2'd1;
      qn <= qn + {2'b0, got} - {2'b0, out_fire};
    end
  end
endmodule
`default_nettype wire
