"""How the GPU is measured, shared by the tuner and the benchmark: timing (CUDA-graph replays,
L2 rotation, interleaving) and the device ceilings rooflines are computed from. Both stages
import this layer; neither imports the other."""
