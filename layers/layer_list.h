/*
 * layer_list.h - every layer type, one line each (an X-macro list).
 * Adding a layer: layers/<type>.c defining `const tc_layer_ops tc_layer_<type>`, one line here,
 * tests/test_<family>.c. engine/registry.c expands this list into the lookup table.
 */
TC_LAYER(conv2d)
TC_LAYER(dense)
TC_LAYER(maxpool2d)
TC_LAYER(avgpool2d)
TC_LAYER(global_maxpool2d)
TC_LAYER(global_avgpool2d)
TC_LAYER(flatten)
TC_LAYER(batchnorm)
TC_LAYER(softmax)
TC_LAYER(log_softmax)
TC_LAYER(activation)
TC_LAYER(add)
TC_LAYER(concat)
