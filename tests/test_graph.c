/* test_graph.c - "inputs", "outputs" and names: graphs that load, and every malformed graph. */
#include "tc_test.h"

#include <stdio.h>

#define HEAD "{\"format\":\"tinycnn\",\"version\":1,\"input\":{\"shape\":[2]},"

static void builds_a_diamond_graph(void **state)
{
    (void)state;
    /* relu and negated-identity branches of the input, added: x = [1.5, -2] ->
     * relu = [1.5, 0]; dense(-1 * x) = [-1.5, 2]; sum = [0, 2] (by hand) */
    const char *json = HEAD "\"layers\":["
        "{\"name\":\"r\",\"type\":\"activation\",\"function\":\"relu\"},"
        "{\"name\":\"neg\",\"type\":\"dense\",\"inputs\":[\"input\"],\"in_features\":2,"
        "\"out_features\":2,\"weight\":[[-1,0],[0,-1]]},"
        "{\"name\":\"sum\",\"type\":\"add\",\"inputs\":[\"r\",\"neg\"]}]}";
    const float x[2] = {1.5f, -2.0f};
    const float want[2] = {0.0f, 2.0f};
    tct_check_run(json, x, 1, want, 2, 0, 0);
}

static void returns_several_outputs(void **state)
{
    (void)state;
    const char *json = HEAD "\"outputs\":[\"r\",\"d\"],\"layers\":["
        "{\"name\":\"r\",\"type\":\"activation\",\"function\":\"relu\"},"
        "{\"name\":\"d\",\"type\":\"dense\",\"in_features\":2,\"out_features\":1,\"weight\":[[2,3]]},"
        "{\"name\":\"unused\",\"type\":\"activation\",\"function\":\"sigmoid\"}]}";
    tc_model *m = tct_load(json);
    assert_int_equal(tc_model_num_outputs(m), 2);
    assert_int_equal(tc_model_output_numel(m, 1), 1);
    assert_int_equal(tc_model_output_numel(m, 2), 0);
    tc_workspace *ws = NULL;
    assert_int_equal(tc_workspace_create(m, 2, &ws, NULL), TC_OK);
    assert_null(tc_workspace_output(ws, 0)); /* nothing ran yet */
    const float x[4] = {1, -1, -2, 4}; /* two samples */
    assert_int_equal(tc_model_run(m, ws, x, 2, NULL), TC_OK);
    const float want_r[4] = {1, 0, 0, 4};
    const float want_d[2] = {2, 12}; /* 2*1 + 3*0, 2*0 + 3*4 */
    tct_assert_close(tc_workspace_output(ws, 0), want_r, 4, 0, 0);
    tct_assert_close(tc_workspace_output(ws, 1), want_d, 2, 0, 0);
    assert_null(tc_workspace_output(ws, 2));
    tc_workspace_free(ws);
    tc_model_free(m);
}

static void refuses_malformed_graphs(void **state)
{
    (void)state;
    const char *relu = "\"type\":\"activation\",\"function\":\"relu\"";
    char json[1024];
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":\"a\",%s,\"inputs\":[\"b\"]},"
             "{\"name\":\"b\",%s,\"inputs\":[\"a\"]}]}", relu, relu);
    tct_expect_error(json, TC_ERR_GRAPH, "layers[0].inputs[0]: \"b\" is layers[1], which comes later");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":\"a\",%s,\"inputs\":[\"a\"]}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "names itself as input (a cycle)");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":\"a\",%s,\"inputs\":[\"nope\"]}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "no layer is named \"nope\"");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":\"a\",%s},{\"name\":\"a\",%s}]}", relu, relu);
    tct_expect_error(json, TC_ERR_GRAPH, "layers[1]: duplicate layer name \"a\" (also layers[0])");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":\"input\",%s}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "not \"input\"");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"name\":7,%s}]}", relu);
    tct_expect_error(json, TC_ERR_SCHEMA, "layers[0].name: expected a string");
    snprintf(json, sizeof json, HEAD "\"layers\":[{%s,\"inputs\":\"input\"}]}", relu);
    tct_expect_error(json, TC_ERR_SCHEMA, "layers[0].inputs: expected an array");
    snprintf(json, sizeof json, HEAD "\"layers\":[{%s,\"inputs\":[\"input\",\"input\"]}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "activation takes 1 to 1 inputs, got 2");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"type\":\"add\"}]}");
    tct_expect_error(json, TC_ERR_GRAPH, "add takes 2 to");
    snprintf(json, sizeof json, HEAD "\"outputs\":[\"x\"],\"layers\":[{%s}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "outputs[0]: no layer is named \"x\"");
    snprintf(json, sizeof json, HEAD "\"outputs\":[\"a\",\"a\"],\"layers\":[{\"name\":\"a\",%s}]}", relu);
    tct_expect_error(json, TC_ERR_GRAPH, "listed twice");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"type\":\"conv3d\"}]}");
    tct_expect_error(json, TC_ERR_UNKNOWN_LAYER, "unknown layer type \"conv3d\" (known: conv2d");
    snprintf(json, sizeof json, HEAD "\"layers\":[{\"function\":\"relu\"}]}");
    tct_expect_error(json, TC_ERR_SCHEMA, "layers[0].type: required field is missing");
    snprintf(json, sizeof json, HEAD "\"layers\":[{%s,\"kernal_size\":3}]}", relu);
    tct_expect_error(json, TC_ERR_SCHEMA, "layers[0].kernal_size: unknown field");
    snprintf(json, sizeof json, HEAD "\"layers\":[3]}");
    tct_expect_error(json, TC_ERR_SCHEMA, "layers[0]: expected a layer object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builds_a_diamond_graph),
        cmocka_unit_test(returns_several_outputs),
        cmocka_unit_test(refuses_malformed_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
