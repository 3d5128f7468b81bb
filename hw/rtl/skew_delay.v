// A DEPTH-stage shift register (DEPTH may be 0: a wire). The array delays row i's activations and
// column j's term codes by i and j cycles so that the wavefront reaches PE(i, j) at step k + i + j.
`timescale 1ns / 1ps
`default_nettype none

module skew_delay #(
    parameter WIDTH = 8,
    parameter DEPTH = 1
) (
    input  wire             clk,
    input  wire             clear,
    input  wire             enable,
    input  wire [WIDTH-1:0] in,
    output wire [WIDTH-1:0] out
);

  generate
    if (DEPTH == 0) begin : wire_through
      assign out = in;
      wire unused_controls = &{1'b0, clk, clear, enable};
    end else begin : stages
      reg [WIDTH-1:0] stage [0:DEPTH-1];
      integer s;
      always @(posedge clk) begin
        if (clear) begin
          for (s = 0; s < DEPTH; s = s + 1) stage[s] <= {WIDTH{1'b0}};
        end else if (enable) begin
          stage[0] <= in;
          for (s = 1; s < DEPTH; s = s + 1) stage[s] <= stage[s - 1];
        end
      end
      assign out = stage[DEPTH - 1];
    end
  endgenerate

endmodule

`default_nettype wire
