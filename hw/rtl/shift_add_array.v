// The LightNN shift-add array: ROWS x COLS shift_add_pe, output stationary. PE(i, j) accumulates
// output (pixel i, filter j) of a tile: activations flow right along the rows, weight term codes
// flow down the columns, skewed so that PE(i, j) sees reduction step s at compute cycle s + i + j.
//
// Use (one tile; hw/README.md has the timing diagram):
//   1. Load: while idle, each edge with load_en writes reduction step load_step: load_act holds the
//      activations of rows 0..ROWS-1 (ACT_WIDTH bits each, row r at [r*ACT_WIDTH +: ACT_WIDTH]),
//      load_codes the term codes of columns 0..COLS-1 (TERMS bytes each, column c at
//      [c*8*TERMS +: 8*TERMS], term t at byte t of that). One edge per step: k edges.
//   2. Start: an edge with start high (while idle) latches k (1..KMAX), rows_used (1..ROWS),
//      cols_used (1..COLS) and accumulate, clears the PEs and the skew registers, lowers done.
//   3. Compute: k + rows_used + cols_used - 2 edges; rows and columns beyond the tile see zeros.
//   4. Drain: rows_used edges; each moves the accumulators one row up, row 0 into the output
//      buffer (added to what it holds when accumulate was set: K split into chunks).
//      The last drain edge raises done.
//   5. Read: read_data is row read_row of the output buffer (combinational), column c at
//      [c*ACC_WIDTH +: ACC_WIDTH]; it holds until the next tile drains.
// Cycles from the start edge to the edge that raises done, both counted:
//   1 + (k + rows_used + cols_used - 2) + rows_used = k + 2 * rows_used + cols_used - 1
// (coda::hw::lightnn_tile_cycles, hw/lightnn_timing.h).
`timescale 1ns / 1ps
`default_nettype none

module shift_add_array #(
    parameter ROWS = 16,
    parameter COLS = 16,
    parameter TERMS = 2,
    parameter ACT_WIDTH = 16,
    parameter ACC_WIDTH = 48,
    parameter KMAX = 1024,
    // Wide enough for 0..KMAX (k) and 0..ROWS, 0..COLS (rows_used, cols_used, read_row).
    parameter STEP_BITS = $clog2(KMAX + 1),
    parameter ROW_BITS = $clog2(ROWS + 1),
    parameter COL_BITS = $clog2(COLS + 1)
) (
    input  wire                         clk,
    input  wire                         rst,
    // Buffer load port.
    input  wire                         load_en,
    input  wire [STEP_BITS-1:0]         load_step,
    input  wire [ROWS*ACT_WIDTH-1:0]    load_act,
    input  wire [COLS*8*TERMS-1:0]      load_codes,
    // Start/done handshake.
    input  wire                         start,
    input  wire [STEP_BITS-1:0]         k,
    input  wire [ROW_BITS-1:0]          rows_used,
    input  wire [COL_BITS-1:0]          cols_used,
    input  wire                         accumulate,
    output wire                         busy,
    output reg                          done,
    // Output buffer read port.
    input  wire [ROW_BITS-1:0]          read_row,
    output wire [COLS*ACC_WIDTH-1:0]    read_data
);

  localparam CODE_WIDTH = 8 * TERMS;
  // The compute counter runs to k + rows_used + cols_used - 3 at most.
  localparam COUNT_BITS = $clog2(KMAX + ROWS + COLS);
  // Buffer addresses (ROWS and KMAX are at least 2).
  localparam STEP_INDEX_BITS = $clog2(KMAX);
  localparam ROW_INDEX_BITS = $clog2(ROWS);
  localparam [STEP_BITS-1:0] KMAX_STEPS = KMAX[STEP_BITS-1:0];
  localparam [ROW_BITS-1:0] ROWS_SIZED = ROWS[ROW_BITS-1:0];

  localparam [1:0] IDLE = 2'd0, COMPUTE = 2'd1, DRAIN = 2'd2;

  reg [1:0] state;
  reg [STEP_BITS-1:0] tile_k;
  reg [ROW_BITS-1:0] tile_rows;
  reg [COL_BITS-1:0] tile_cols;
  reg tile_accumulate;
  reg [COUNT_BITS-1:0] cycle;  // compute cycle, then drain row

  reg [ROWS*ACT_WIDTH-1:0] act_buffer [0:KMAX-1];
  reg [COLS*CODE_WIDTH-1:0] code_buffer [0:KMAX-1];
  reg [COLS*ACC_WIDTH-1:0] out_buffer [0:ROWS-1];

  wire launch = (state == IDLE) && start;
  wire computing = (state == COMPUTE);
  wire draining = (state == DRAIN);
  assign busy = (state != IDLE);

  // Zero-extended so the sums below are taken at the counter's width.
  wire [COUNT_BITS-1:0] count_k = {{(COUNT_BITS - STEP_BITS){1'b0}}, tile_k};
  wire [COUNT_BITS-1:0] count_rows = {{(COUNT_BITS - ROW_BITS){1'b0}}, tile_rows};
  wire [COUNT_BITS-1:0] count_cols = {{(COUNT_BITS - COL_BITS){1'b0}}, tile_cols};
  wire [COUNT_BITS-1:0] last_compute = count_k + count_rows + count_cols - 3;
  wire [COUNT_BITS-1:0] last_drain = count_rows - 1;

  // Control.
  always @(posedge clk) begin
    if (rst) begin
      state <= IDLE;
      done <= 1'b0;
      cycle <= {COUNT_BITS{1'b0}};
    end else begin
      case (state)
        IDLE: if (start) begin
          tile_k <= k;
          tile_rows <= rows_used;
          tile_cols <= cols_used;
          tile_accumulate <= accumulate;
          cycle <= {COUNT_BITS{1'b0}};
          done <= 1'b0;
          state <= COMPUTE;
        end
        COMPUTE: begin
          cycle <= (cycle == last_compute) ? {COUNT_BITS{1'b0}} : cycle + 1'b1;
          if (cycle == last_compute) state <= DRAIN;
        end
        DRAIN: begin
          cycle <= cycle + 1'b1;
          if (cycle == last_drain) begin
            state <= IDLE;
            done <= 1'b1;
          end
        end
        default: state <= IDLE;
      endcase
    end
  end

  // Buffers.
  always @(posedge clk) begin
    if (load_en && !busy && load_step < KMAX_STEPS) begin
      act_buffer[load_step[STEP_INDEX_BITS-1:0]] <= load_act;
      code_buffer[load_step[STEP_INDEX_BITS-1:0]] <= load_codes;
    end
  end

  // The step the array edge reads this compute cycle; zeros once the tile's k steps are in.
  wire in_steps = computing && (cycle < count_k);
  wire [STEP_INDEX_BITS-1:0] step = cycle[STEP_INDEX_BITS-1:0];
  wire [ROWS*ACT_WIDTH-1:0] act_word = in_steps ? act_buffer[step] : {ROWS*ACT_WIDTH{1'b0}};
  wire [COLS*CODE_WIDTH-1:0] code_word = in_steps ? code_buffer[step] : {COLS*CODE_WIDTH{1'b0}};

  // The PE grid: act_link[i][j] enters PE(i, j) from the left, code_link[i][j] from above,
  // acc_link[i][j] is PE(i, j)'s accumulator (PE(i, j) drains from acc_link[i + 1][j]).
  wire [ACT_WIDTH-1:0] act_link [0:ROWS-1][0:COLS];
  wire [CODE_WIDTH-1:0] code_link [0:ROWS][0:COLS-1];
  wire [ACC_WIDTH-1:0] acc_link [0:ROWS][0:COLS-1];

  genvar i, j;
  generate
    for (i = 0; i < ROWS; i = i + 1) begin : row_feed
      wire [ACT_WIDTH-1:0] masked = (i < tile_rows) ? act_word[i*ACT_WIDTH +: ACT_WIDTH]
                                                               : {ACT_WIDTH{1'b0}};
      skew_delay #(.WIDTH(ACT_WIDTH), .DEPTH(i)) skew (
          .clk(clk), .clear(launch), .enable(computing), .in(masked), .out(act_link[i][0]));
    end
    for (j = 0; j < COLS; j = j + 1) begin : col_feed
      wire [CODE_WIDTH-1:0] masked = (j < tile_cols) ? code_word[j*CODE_WIDTH +: CODE_WIDTH]
                                                                : {CODE_WIDTH{1'b0}};
      skew_delay #(.WIDTH(CODE_WIDTH), .DEPTH(j)) skew (
          .clk(clk), .clear(launch), .enable(computing), .in(masked), .out(code_link[0][j]));
      assign acc_link[ROWS][j] = {ACC_WIDTH{1'b0}};
    end
    for (i = 0; i < ROWS; i = i + 1) begin : pe_row
      for (j = 0; j < COLS; j = j + 1) begin : pe_col
        shift_add_pe #(.ACT_WIDTH(ACT_WIDTH), .ACC_WIDTH(ACC_WIDTH), .TERMS(TERMS)) pe (
            .clk(clk), .clear(launch), .drain(draining), .enable(computing),
            .act_in(act_link[i][j]), .codes_in(code_link[i][j]), .acc_in(acc_link[i + 1][j]),
            .act_out(act_link[i][j + 1]), .codes_out(code_link[i + 1][j]), .acc(acc_link[i][j]));
      end
    end
  endgenerate

  // Drain: row 0's accumulators enter the output buffer, one row per edge.
  wire [COLS*ACC_WIDTH-1:0] drained_row;
  wire [ROW_INDEX_BITS-1:0] drain_row = cycle[ROW_INDEX_BITS-1:0];
  generate
    for (j = 0; j < COLS; j = j + 1) begin : drain_col
      assign drained_row[j*ACC_WIDTH +: ACC_WIDTH] =
          (tile_accumulate ? out_buffer[drain_row][j*ACC_WIDTH +: ACC_WIDTH] : {ACC_WIDTH{1'b0}})
          + acc_link[0][j];
    end
  endgenerate
  always @(posedge clk) begin
    if (draining) out_buffer[drain_row] <= drained_row;
  end

  assign read_data = (read_row < ROWS_SIZED) ? out_buffer[read_row[ROW_INDEX_BITS-1:0]] : {COLS*ACC_WIDTH{1'b0}};

endmodule

`default_nettype wire
