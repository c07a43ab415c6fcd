"""Training-side code for FastDepth: model, MAC counter, checkpoint import, procedural
indoor-scene renderer, trainer, ONNX export and evaluation.

This is the only subpackage that imports torch; the ROS node runs the exported ONNX graph
through ONNX Runtime and never imports anything from here.
"""
