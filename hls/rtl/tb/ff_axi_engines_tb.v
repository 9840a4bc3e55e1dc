// ff_axi_engines_tb: cocotb harness of the AXI4 engines (testbench/axi_engine_test.py).
//
// Five independent sets, each a read engine and a write engine sharing one memory: cocotbext-axi's AxiRam
// on the set's axi_* signals (MEM = 0) or ff_axi_mem inside the set (MEM = 1).  Clock `clk`, reset `rst_n`
// (synchronous, active low) are the only ports; cocotb drives the `reg`s of each set through the hierarchy
// (dut.<set>.rc_valid, ...).
`default_nettype none
module ff_axi_engines_tb (
  input wire clk,
  input wire rst_n
);
  ff_axi_tb_set #(.DATA_W(128), .OUTSTANDING(6), .MAX_BURST(16), .MEM(0))  a (.clk(clk), .rst_n(rst_n));
  ff_axi_tb_set #(.DATA_W(256), .OUTSTANDING(1), .MAX_BURST(256), .MEM(0)) b (.clk(clk), .rst_n(rst_n));
  ff_axi_tb_set #(.DATA_W(128), .OUTSTANDING(1), .MAX_BURST(32), .MEM(1), .READ_LATENCY(3),
                  .WRITE_LATENCY(2), .WORDS(16384), .INIT_FILE("ff_mem_c.hex")) c (.clk(clk), .rst_n(rst_n));
  ff_axi_tb_set #(.DATA_W(256), .OUTSTANDING(2), .MAX_BURST(256), .MEM(1), .READ_LATENCY(20),
                  .WRITE_LATENCY(12), .WORDS(8192), .INIT_FILE("ff_mem_d.hex")) d (.clk(clk), .rst_n(rst_n));
  ff_axi_tb_set #(.DATA_W(64), .OUTSTANDING(4), .MAX_BURST(256), .MEM(1), .READ_LATENCY(6),
                  .WRITE_LATENCY(5), .WORDS(32768), .INIT_FILE("ff_mem_e.hex")) e (.clk(clk), .rst_n(rst_n));
endmodule

// One read engine + one write engine on one memory, the cocotb-driven inputs as regs, handshake wires for
// the monitors and cycle counters for the throughput test.
module ff_axi_tb_set #(
  parameter integer DATA_W = 128,
  parameter integer OUTSTANDING = 2,
  parameter integer MAX_BURST = 256,
  parameter integer MEM = 0,             // 0: AxiRam (cocotb) on axi_*, 1: ff_axi_mem
  parameter integer READ_LATENCY = 2,
  parameter integer WRITE_LATENCY = 2,
  parameter integer WORDS = 4096,
  parameter INIT_FILE = ""
) (
  input wire clk,
  input wire rst_n
);
  // ---- driven by cocotb
  reg rc_valid, ro_ready, wc_valid, wi_valid;
  reg [31:0] rc_addr, wc_addr;
  reg [15:0] rc_beats, wc_beats;
  reg [DATA_W - 1:0] wi_data;
  // slave side of the AXI bus when the memory is AxiRam (MEM = 0)
  reg axi_arready, axi_rlast, axi_rvalid, axi_awready, axi_wready, axi_bvalid;
  reg [0:0] axi_rid, axi_bid;
  reg [1:0] axi_rresp, axi_bresp;
  reg [DATA_W - 1:0] axi_rdata;
  initial begin
    {rc_valid, ro_ready, wc_valid, wi_valid, rc_addr, wc_addr, rc_beats, wc_beats, wi_data} = 0;
    {axi_arready, axi_rlast, axi_rvalid, axi_awready, axi_wready, axi_bvalid} = 0;
    {axi_rid, axi_bid, axi_rresp, axi_bresp, axi_rdata} = 0;
  end

  // ---- engine outputs
  wire rc_ready, ro_valid, ro_last, wc_ready, wi_ready, w_done, r_idle, w_idle;
  wire [DATA_W - 1:0] ro_data;
  // master side of the AXI bus (named for cocotbext-axi's AxiBus.from_prefix(set, "axi"))
  wire [0:0] axi_arid, axi_awid;
  wire [31:0] axi_araddr, axi_awaddr;
  wire [7:0] axi_arlen, axi_awlen;
  wire [2:0] axi_arsize, axi_awsize;
  wire [1:0] axi_arburst, axi_awburst;
  wire axi_arvalid, axi_rready, axi_awvalid, axi_wlast, axi_wvalid, axi_bready;
  wire [DATA_W - 1:0] axi_wdata;
  wire [DATA_W / 8 - 1:0] axi_wstrb;
  // slave side as the engines see it (AxiRam's regs or ff_axi_mem's outputs)
  wire arready, rlast, rvalid, awready, wready, bvalid;
  wire [0:0] rid, bid;
  wire [1:0] rresp, bresp;
  wire [DATA_W - 1:0] rdata;

  ff_axi_read #(.DATA_W(DATA_W), .MAX_BURST(MAX_BURST), .OUTSTANDING(OUTSTANDING)) u_rd (
    .clk(clk), .rst_n(rst_n), .cmd_valid(rc_valid), .cmd_ready(rc_ready), .cmd_addr(rc_addr),
    .cmd_beats(rc_beats), .out_data(ro_data), .out_valid(ro_valid), .out_ready(ro_ready), .out_last(ro_last),
    .m_axi_arid(axi_arid), .m_axi_araddr(axi_araddr), .m_axi_arlen(axi_arlen), .m_axi_arsize(axi_arsize),
    .m_axi_arburst(axi_arburst), .m_axi_arvalid(axi_arvalid), .m_axi_arready(arready), .m_axi_rid(rid),
    .m_axi_rdata(rdata), .m_axi_rresp(rresp), .m_axi_rlast(rlast), .m_axi_rvalid(rvalid),
    .m_axi_rready(axi_rready), .idle(r_idle));
  ff_axi_write #(.DATA_W(DATA_W), .MAX_BURST(MAX_BURST), .OUTSTANDING(OUTSTANDING)) u_wr (
    .clk(clk), .rst_n(rst_n), .cmd_valid(wc_valid), .cmd_ready(wc_ready), .cmd_addr(wc_addr),
    .cmd_beats(wc_beats), .in_data(wi_data), .in_valid(wi_valid), .in_ready(wi_ready), .done(w_done),
    .m_axi_awid(axi_awid), .m_axi_awaddr(axi_awaddr), .m_axi_awlen(axi_awlen), .m_axi_awsize(axi_awsize),
    .m_axi_awburst(axi_awburst), .m_axi_awvalid(axi_awvalid), .m_axi_awready(awready),
    .m_axi_wdata(axi_wdata), .m_axi_wstrb(axi_wstrb), .m_axi_wlast(axi_wlast), .m_axi_wvalid(axi_wvalid),
    .m_axi_wready(wready), .m_axi_bid(bid), .m_axi_bresp(bresp), .m_axi_bvalid(bvalid),
    .m_axi_bready(axi_bready), .idle(w_idle));

  generate
    if (MEM != 0) begin : g_mem
      ff_axi_mem #(.DATA_W(DATA_W), .WORDS(WORDS), .READ_LATENCY(READ_LATENCY), .WRITE_LATENCY(WRITE_LATENCY),
                   .INIT_FILE(INIT_FILE)) u_mem (
        .clk(clk), .rst_n(rst_n), .s_axi_arid(axi_arid), .s_axi_araddr(axi_araddr), .s_axi_arlen(axi_arlen),
        .s_axi_arsize(axi_arsize), .s_axi_arburst(axi_arburst), .s_axi_arvalid(axi_arvalid),
        .s_axi_arready(arready), .s_axi_rid(rid), .s_axi_rdata(rdata), .s_axi_rresp(rresp), .s_axi_rlast(rlast),
        .s_axi_rvalid(rvalid), .s_axi_rready(axi_rready), .s_axi_awid(axi_awid), .s_axi_awaddr(axi_awaddr),
        .s_axi_awlen(axi_awlen), .s_axi_awsize(axi_awsize), .s_axi_awburst(axi_awburst),
        .s_axi_awvalid(axi_awvalid), .s_axi_awready(awready), .s_axi_wdata(axi_wdata), .s_axi_wstrb(axi_wstrb),
        .s_axi_wlast(axi_wlast), .s_axi_wvalid(axi_wvalid), .s_axi_wready(wready), .s_axi_bid(bid),
        .s_axi_bresp(bresp), .s_axi_bvalid(bvalid), .s_axi_bready(axi_bready));
    end else begin : g_ram
      assign {arready, rlast, rvalid, awready, wready, bvalid} =
             {axi_arready, axi_rlast, axi_rvalid, axi_awready, axi_wready, axi_bvalid};
      assign {rid, bid, rresp, bresp, rdata} = {axi_rid, axi_bid, axi_rresp, axi_bresp, axi_rdata};
    end
  endgenerate

  // ---- handshakes for the monitors
  wire ar_fire = axi_arvalid && arready;
  wire r_fire = rvalid && axi_rready;
  wire aw_fire = axi_awvalid && awready;
  wire w_fire = axi_wvalid && wready;
  wire b_fire = bvalid && axi_bready;
  wire ro_fire = ro_valid && ro_ready;
  wire rc_fire = rc_valid && rc_ready;

  // ---- counters (edges since reset): first read command, first / last output word, words out
  reg [31:0] cyc, rc_t0, ro_t0, ro_t1, ro_n;
  always @(posedge clk) begin
    if (!rst_n) begin
      {cyc, rc_t0, ro_t0, ro_t1, ro_n} <= 0;
    end else begin
      cyc <= cyc + 32'd1;
      if (rc_fire && rc_t0 == 0) rc_t0 <= cyc + 32'd1;  // stamps count edges from 1 (0 = none yet)
      if (ro_fire) begin
        if (ro_n == 0) ro_t0 <= cyc + 32'd1;
        ro_t1 <= cyc + 32'd1;
        ro_n <= ro_n + 32'd1;
      end
    end
  end
endmodule
`default_nettype wire
