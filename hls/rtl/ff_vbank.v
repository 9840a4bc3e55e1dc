// ff_vbank: a matrix of ROWS x COLS elements (the V of one KV head: positions x head_dim), written a word of
// LANES elements at a time in row order and read TRANSPOSED as a stream: for column i = 0 .. COLS - 1, beats
// c = 0 .. beats - 1 carry the elements (r = c * LANES + b, i), b = 0 .. LANES - 1 -- a V^T row, LANES rows of
// V per beat, exactly what the av kernel's vt port takes (lanes at and beyond the valid rows are padding:
// whatever the bank holds).
//
// Storage: LANES element-wide banks, skewed so that both a row's word and a V^T beat touch every bank once:
// element (r, i) lives in bank (r + i) % LANES at address (r / LANES) * COLS + i.  A written word is rotated by
// r % LANES into the banks; a read beat is one common address (c * COLS + i) and a rotation by i % LANES back.
// (LANES banks of one element each, not LANES banks of a whole word with a lane select: a quarter of the block
// RAMs at 16-bit elements, and LANES element-wide read buses instead of LANES word-wide ones.)
//
// Cycle behaviour: as ff_ram_stream (command at edge t, first beat valid after t + 3, one beat per cycle,
// 4 credits; the rotation travels with the read).
`default_nettype none
module ff_vbank #(
  parameter integer EW = 16,
  parameter integer LANES = 8,          // a power of two, >= 2
  parameter integer COLS = 64,          // multiple of LANES
  parameter integer BANK_WORDS = 128,   // words per bank: ceil(ROWS / LANES) * COLS / LANES
  parameter integer AB = 7,
  parameter integer CB = 16
) (
  input  wire clk,
  input  wire rst_n,
  // write port: word `wr_word` of the matrix (row r's COLS / LANES words in column order, rows of the same
  // r / LANES side by side: (r / LANES) * (COLS / LANES) + word within the row), `wr_bank` = r % LANES
  input  wire wr_en,
  input  wire [((LANES > 1) ? $clog2(LANES) : 1) - 1:0] wr_bank,
  input  wire [AB - 1:0] wr_word,
  input  wire [LANES * EW - 1:0] wr_data,
  // transposed reader
  input  wire start,
  input  wire [CB - 1:0] beats,         // beats per V^T row: ceil(valid rows / LANES), >= 1
  output wire idle,
  output wire [LANES * EW - 1:0] out_data,
  output wire out_valid,
  input  wire out_ready
);
  localparam integer LB = (LANES > 1) ? $clog2(LANES) : 1;
  localparam integer RW = COLS / LANES;                 // words per row
  localparam integer IB = (COLS > 1) ? $clog2(COLS) : 1;
  localparam [31:0] LAST32 = COLS - 1;
  localparam [31:0] RW32 = RW;
  localparam [IB - 1:0] LAST_COL = LAST32[IB - 1:0];
  localparam [AB - 1:0] ROW_WORDS = RW32[AB - 1:0];

  // banks: bank k holds element j = (k - r) % LANES of each written word, at address wr_word * LANES + j
  localparam integer EB = AB + LB;                      // element address bits (AB is 1 for a one-word bank)
  reg rd_en;
  reg [EB - 1:0] rd_addr;
  wire [EW - 1:0] bank_q [0:LANES - 1];
  genvar b;
  generate
    for (b = 0; b < LANES; b = b + 1) begin : g_bank
      localparam [LB - 1:0] BANK = b;
      wire [LB - 1:0] j = BANK - wr_bank;               // mod LANES (a power of two)
      ff_ram #(.WIDTH(EW), .DEPTH(((BANK_WORDS < 2) ? 2 : BANK_WORDS) * LANES), .AB(EB)) u_ram (
        .clk(clk), .wr_en(wr_en), .wr_addr({wr_word, j}), .wr_data(wr_data[j * EW +: EW]),
        .rd_en(rd_en), .rd_addr(rd_addr), .rd_data(bank_q[b]));
    end
  endgenerate

  // address generator: column i, beat c; word address c * RW + i / LANES (element address: {word, i % LANES})
  reg active;
  reg [IB - 1:0] col;
  reg [CB - 1:0] beat, nbeats_m2;      // beat of the column; beats - 2 (the beat before the last)
  reg last_beat;                        // beat == beats - 1: a register, so no compare sits before `issue`
  reg last_col;                         // col == COLS - 1
  reg [AB - 1:0] addr, col_addr;
  reg [LB - 1:0] sel_issue, sel_q;      // rotation (i % LANES) of the read issued / in the RAM registers
  reg got;
  reg [LANES * EW - 1:0] q [0:3];
  reg [1:0] qw, qr;
  reg [2:0] qn, credits;
  wire out_fire = out_valid && out_ready;
  wire issue = active && (credits != 3'd0);
  assign out_valid = (qn != 3'd0);
  assign out_data = q[qr];
  assign idle = !active && !got && (qn == 3'd0) && !rd_en;

  // the beat: lane b = row c * LANES + b, in bank (b + i) % LANES
  wire [LANES * EW - 1:0] beat_word;
  generate
    for (b = 0; b < LANES; b = b + 1) begin : g_sel
      localparam [LB - 1:0] LANE = b;
      wire [LB - 1:0] k = LANE + sel_q;                 // mod LANES
      assign beat_word[b * EW +: EW] = bank_q[k];
    end
  endgenerate

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
      sel_q <= sel_issue;
      credits <= credits - {2'b0, issue} + {2'b0, out_fire};
      if (start && idle) begin
        active <= 1'b1;
        col <= {IB{1'b0}};
        beat <= {CB{1'b0}};
        nbeats_m2 <= beats - {{(CB - 2){1'b0}}, 2'd2};
        last_beat <= (beats == {{(CB - 1){1'b0}}, 1'b1});
        last_col <= (COLS == 1);
        addr <= {AB{1'b0}};
        col_addr <= {AB{1'b0}};
      end else if (issue) begin
        rd_addr <= {addr, col[LB - 1:0]};
        sel_issue <= col[LB - 1:0];
        if (last_beat) begin
          beat <= {CB{1'b0}};
          last_beat <= (nbeats_m2 == {CB{1'b1}});  // one beat per column: every beat is the last
          if (last_col) begin
            active <= 1'b0;
          end else begin
            col <= col + {{(IB - 1){1'b0}}, 1'b1};
            last_col <= (col == LAST_COL - {{(IB - 1){1'b0}}, 1'b1});
            if (col[LB - 1:0] == {LB{1'b1}}) begin
              col_addr <= col_addr + {{(AB - 1){1'b0}}, 1'b1};
              addr <= col_addr + {{(AB - 1){1'b0}}, 1'b1};
            end else begin
              addr <= col_addr;
            end
          end
        end else begin
          beat <= beat + {{(CB - 1){1'b0}}, 1'b1};
          last_beat <= (beat == nbeats_m2);
          addr <= addr + ROW_WORDS;
        end
      end
      if (got) begin
        q[qw] <= beat_word;
        qw <= qw + 2'd1;
      end
      if (out_fire) qr <= qr + 2'd1;
      qn <= qn + {2'b0, got} - {2'b0, out_fire};
    end
  end
endmodule
`default_nettype wire
