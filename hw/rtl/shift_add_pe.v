// One LightNN processing element (REFERENCE.md section 5): w * x becomes the sum of at most TERMS
// signed shifts of x, so the PE has barrel shifters and adders but no multiplier.
//
// A term code is the byte of coda::ShiftTerm (kernels/approx/shift_add.h): bit 7 present, bit 6
// negative, bits 0-5 shift. Term t of the weight sits in codes_in[8t +: 8]; an absent term adds 0.
// The accumulator is ACC_WIDTH-bit two's complement and wraps modulo 2^ACC_WIDTH, like the golden
// model's modulo-2^64 sum; a shift of ACC_WIDTH or more therefore contributes 0.
//
// Per clock edge, by priority:
//   clear   accumulator and pipeline registers := 0
//   drain   accumulator := acc_in (the neighbour's, so results shift out of the array)
//   enable  accumulator += sum of the terms; act_out := act_in; codes_out := codes_in
// act_out and codes_out are the registers that carry the operands on to the next PE (systolic flow).
`timescale 1ns / 1ps
`default_nettype none

module shift_add_pe #(
    parameter ACT_WIDTH = 8,
    parameter ACC_WIDTH = 32,
    parameter TERMS = 2
) (
    input  wire                     clk,
    input  wire                     clear,
    input  wire                     drain,
    input  wire                     enable,
    input  wire signed [ACT_WIDTH-1:0] act_in,
    input  wire [8*TERMS-1:0]       codes_in,
    input  wire [ACC_WIDTH-1:0]     acc_in,
    output reg  signed [ACT_WIDTH-1:0] act_out,
    output reg  [8*TERMS-1:0]       codes_out,
    output reg  [ACC_WIDTH-1:0]     acc
);

  // The activation sign-extended to the accumulator width, so shifts keep its two's complement value.
  wire [ACC_WIDTH-1:0] act_wide = {{(ACC_WIDTH - ACT_WIDTH){act_in[ACT_WIDTH-1]}}, act_in};

  // The accumulator plus the terms: +-(act_wide << shift) for each present term.
  reg [ACC_WIDTH-1:0] sum;
  reg [7:0] code;
  reg [ACC_WIDTH-1:0] shifted;
  integer t;
  always @* begin
    sum = acc;
    for (t = 0; t < TERMS; t = t + 1) begin
      code = codes_in[8*t +: 8];
      shifted = act_wide << code[5:0];
      if (code[7]) sum = code[6] ? sum - shifted : sum + shifted;
    end
  end

  always @(posedge clk) begin
    if (clear) begin
      acc <= {ACC_WIDTH{1'b0}};
      act_out <= {ACT_WIDTH{1'b0}};
      codes_out <= {8*TERMS{1'b0}};
    end else if (drain) begin
      acc <= acc_in;
    end else if (enable) begin
      acc <= sum;
      act_out <= act_in;
      codes_out <= codes_in;
    end
  end

endmodule

`default_nettype wire
