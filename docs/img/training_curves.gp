# Test accuracy per epoch of the reference models (docs/zoo.md). Data: the --log-json files of
# `coda train` kept beside the models, flattened to "epoch test_accuracy train_accuracy loss" rows.
# Run from docs/img:
#   for m in lenet5 resnet20; do jq -r '.history[] | "\(.epoch) \(.test_accuracy) \(.train_accuracy) \(.loss)"' \
#     ../../kernels/zoo/$m-fashion-mnist.train.json > $m.dat; done; gnuplot training_curves.gp
set terminal svg size 720,420 dynamic font "sans,12"
set output "training_curves.svg"
set title "coda train on Fashion-MNIST (test split)"
set xlabel "epoch"
set ylabel "top-1 accuracy"
set key bottom right
set grid
set yrange [0.83:0.95]
plot "lenet5.dat" using 1:2 with linespoints title "LeNet-5, test", \
     "lenet5.dat" using 1:3 with lines dashtype 2 title "LeNet-5, train", \
     "resnet20.dat" using 1:2 with linespoints title "ResNet-20, test", \
     "resnet20.dat" using 1:3 with lines dashtype 2 title "ResNet-20, train", \
     0.89 with lines lc "gray" title "LeNet-5 target 89%", \
     0.92 with lines lc "black" title "ResNet-20 target 92%"
