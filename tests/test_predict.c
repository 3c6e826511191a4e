/*
 * test_predict.c - `tinycnn predict` end to end: images written here with stb_image_write, the
 * model tests/fixtures/images/tiny_2x2.json, the text table and the --json lines parsed back.
 *
 * The model: a 2 x 2 gray input scaled by 1/255 (x0 x1 / x2 x3), flattened, then dense with
 * logits [4 x0, 4 x3, x0 + x1 + x2 + x3 - 1] and softmax, labels top_left, bottom_right, flat.
 * Expected probabilities are that softmax in double, from the pixel values written
 * (tiny_2x2_scores.json is the same without softmax and labels, input shape [2, 2]).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent (tct_cli.h) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wvla"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#include <cjson/cJSON.h>

#include "tct_cli.h" /* system headers, then tc_test.h */

#define MODEL_DIR "tests/fixtures/images/"
#define N_IMAGES 5
static const char *const labels[3] = {"top_left", "bottom_right", "flat"};

/* The test images: name and 2 x 2 gray pixels, except big_tl (4 x 4, top-left quarter white:
 * area averaging makes it tl) and red (2 x 2 RGB (255, 0, 0): luma 76.245 everywhere). */
typedef struct sample {
    const char *name;
    double x[4]; /* the model input: pixels / 255 after resize and luma */
} sample;

static const sample samples[N_IMAGES] = {
    {"tl.png", {1, 0, 0, 0}},
    {"mid.png", {0.2, 0, 0, 0.8}},
    {"flat.png", {128 / 255.0, 128 / 255.0, 128 / 255.0, 128 / 255.0}},
    {"big_tl.png", {1, 0, 0, 0}},
    {"red.png", {0.299, 0.299, 0.299, 0.299}},
};

/* Expected outputs: logits, and their softmax when `softmax`. */
static void expected(const sample *s, bool softmax, double *p)
{
    p[0] = 4 * s->x[0];
    p[1] = 4 * s->x[3];
    p[2] = s->x[0] + s->x[1] + s->x[2] + s->x[3] - 1;
    if (!softmax)
        return;
    double z = exp(p[0]) + exp(p[1]) + exp(p[2]);
    for (int c = 0; c < 3; c++)
        p[c] = exp(p[c]) / z;
}

/* Class order by descending value, ties to the lower index. */
static void ranking(const double *p, int *order)
{
    for (int i = 0; i < 3; i++)
        order[i] = i;
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (p[order[j]] > p[order[i]] + 1e-12) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
}

typedef struct fixture {
    char dir[TCT_PATH_MAX];
    char path[N_IMAGES][TCT_PATH_MAX];
    char model[TCT_PATH_MAX];
    char scores_model[TCT_PATH_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = test_malloc(sizeof *f);
    tct_tmpdir_make(f->dir, sizeof f->dir);
    const uint8_t tl[4] = {255, 0, 0, 0};
    const uint8_t mid[4] = {51, 0, 0, 204};
    const uint8_t flat[4] = {128, 128, 128, 128};
    uint8_t big[16] = {255, 255, 0, 0, 255, 255, 0, 0};
    const uint8_t red[12] = {255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0};
    for (int i = 0; i < N_IMAGES; i++)
        tct_join(f->path[i], TCT_PATH_MAX, f->dir, samples[i].name);
    int ok = stbi_write_png(f->path[0], 2, 2, 1, tl, 2) &&
             stbi_write_png(f->path[1], 2, 2, 1, mid, 2) &&
             stbi_write_png(f->path[2], 2, 2, 1, flat, 2) &&
             stbi_write_png(f->path[3], 4, 4, 1, big, 4) &&
             stbi_write_png(f->path[4], 2, 2, 3, red, 6);
    assert_true(ok);
    snprintf(f->model, sizeof f->model, "%s", tct_source_path(MODEL_DIR "tiny_2x2.json"));
    snprintf(f->scores_model, sizeof f->scores_model, "%s",
             tct_source_path(MODEL_DIR "tiny_2x2_scores.json"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tct_tmpdir_remove(f->dir);
    test_free(f);
    return 0;
}

/* As tct_cli_run, with stdin read from stdin_path. */
static void run_with_stdin(const char *dir, const char *const *args, const char *stdin_path,
                           tct_cli_result *r)
{
    char *argv[TCT_CLI_MAX_ARGS + 2] = {(char *)TC_CLI_PATH};
    for (int n = 0; args[n] != NULL && n < TCT_CLI_MAX_ARGS; n++)
        argv[n + 1] = (char *)args[n];
    char out_path[TCT_PATH_MAX];
    char err_path[TCT_PATH_MAX];
    tct_join(out_path, sizeof out_path, dir, "stdout.txt");
    tct_join(err_path, sizeof err_path, dir, "stderr.txt");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int wstatus = 0;
    if (posix_spawn(&pid, TC_CLI_PATH, &fa, NULL, argv, environ) != 0 ||
        waitpid(pid, &wstatus, 0) != pid)
        fail_msg("cannot run %s", TC_CLI_PATH);
    posix_spawn_file_actions_destroy(&fa);
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r->out = tct_read_text(out_path);
    r->err = tct_read_text(err_path);
}

/* Runs the command; it must exit with `status` (nothing on stderr when 0). Returns stdout. */
static char *run_ok(const fixture *f, const char *const *args)
{
    tct_cli_result r;
    tct_cli_run(f->dir, args, &r);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("exit %d, stderr \"%.400s\"", r.status, r.err);
    test_free(r.err);
    return r.out;
}

/* Checks one --json line against sample s: file, top (k entries, in order), probs. */
static void check_json_line(const char *line, const char *path, const sample *s, int k,
                            bool softmax)
{
    double p[3];
    int order[3];
    expected(s, softmax, p);
    ranking(p, order);
    cJSON *o = cJSON_Parse(line);
    if (o == NULL)
        fail_msg("not JSON: \"%.300s\"", line);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(o, "top");
    const cJSON *probs = cJSON_GetObjectItemCaseSensitive(o, "probs");
    bool ok = cJSON_IsString(file) && strcmp(file->valuestring, path) == 0 &&
              cJSON_GetArraySize(top) == k && cJSON_GetArraySize(probs) == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = fabs(cJSON_GetArrayItem(probs, i)->valuedouble - p[i]) < 1e-6;
    for (int i = 0; ok && i < k; i++) {
        const cJSON *e = cJSON_GetArrayItem(top, i);
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(e, "label");
        char index[8];
        snprintf(index, sizeof index, "%d", order[i]);
        ok = cJSON_GetObjectItemCaseSensitive(e, "index")->valuedouble == order[i] &&
             cJSON_IsString(label) &&
             strcmp(label->valuestring, softmax ? labels[order[i]] : index) == 0 &&
             fabs(cJSON_GetObjectItemCaseSensitive(e, "prob")->valuedouble - p[order[i]]) < 1e-6;
    }
    cJSON_Delete(o);
    if (!ok)
        fail_msg("%s: expected probs %.7f %.7f %.7f, top %d: got \"%.400s\"", s->name, p[0], p[1],
                 p[2], k, line);
}

/* Checks `n` JSON lines of out, image i being samples[idx[i]]. */
static void check_json_output(const fixture *f, char *out, const int *idx, int n, int k)
{
    char *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    for (int i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
        if (line == NULL)
            fail_msg("only %d of %d result lines", i, n);
        check_json_line(line, f->path[idx[i]], &samples[idx[i]], k, true);
    }
    if (line != NULL)
        fail_msg("unexpected extra output \"%.200s\"", line);
}

static void text_table(void **state)
{
    fixture *f = *state;
    const char *const args[] = {"predict", "-m", f->model, f->path[0], f->path[1], f->path[2],
                                "--top", "2", NULL};
    char *out = run_ok(f, args);
    char *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    if (!line || !strstr(line, "3 classes") || !strstr(line, "probabilities") ||
        strstr(line, "NOT"))
        fail_msg("header \"%s\" should say 3 classes, class probabilities", line ? line : "");
    for (int i = 0; i < 3; i++) {
        double p[3];
        int order[3];
        expected(&samples[i], true, p);
        ranking(p, order);
        line = strtok_r(NULL, "\n", &save);
        if (!line || strcmp(line, f->path[i]) != 0)
            fail_msg("expected the line \"%s\", got \"%s\"", f->path[i], line ? line : "");
        for (int r = 0; r < 2; r++) {
            int rank = 0;
            char label[64];
            double prob = -1;
            line = strtok_r(NULL, "\n", &save);
            if (!line || sscanf(line, " %d. %63s %lf", &rank, label, &prob) != 3 ||
                rank != r + 1 || strcmp(label, labels[order[r]]) != 0 ||
                fabs(prob - p[order[r]]) > 1.5e-6)
                fail_msg("%s rank %d: expected %s %.6f, got \"%s\"", samples[i].name, r + 1,
                         labels[order[r]], p[order[r]], line ? line : "");
        }
    }
    assert_null(strtok_r(NULL, "\n", &save));
    test_free(out);
}

static void json_lines(void **state)
{
    fixture *f = *state;
    /* --top 10 > 3 classes: three entries; the flat image ties top_left and bottom_right */
    const char *const args[] = {"predict", "--json", "-m", f->model, f->path[0], f->path[1],
                                f->path[2], f->path[3], f->path[4], "--top=10", NULL};
    const int idx[] = {0, 1, 2, 3, 4};
    char *out = run_ok(f, args);
    check_json_output(f, out, idx, 5, 3);
    test_free(out);
}

static void json_escapes_file_names(void **state)
{
    fixture *f = *state;
    /* a name with a quote, a backslash and a tab must come back intact from the JSON */
    char odd[TCT_PATH_MAX];
    tct_join(odd, sizeof odd, f->dir, "a \"q\" b\\c\td.png");
    const uint8_t tl[4] = {255, 0, 0, 0};
    assert_true(stbi_write_png(odd, 2, 2, 1, tl, 2));
    const char *const args[] = {"predict", "--json", "-m", f->model, odd, NULL};
    char *out = run_ok(f, args);
    *strchr(out, '\n') = '\0';
    check_json_line(out, odd, &samples[0], 3, true);
    test_free(out);
    unlink(odd);
}

static void batch_size_does_not_change_results(void **state)
{
    fixture *f = *state;
    char *first = NULL;
    const char *const batches[] = {"1", "2", "3", "16"};
    for (int b = 0; b < 4; b++) {
        const char *const args[] = {"predict", "--json", "-m", f->model, "--batch", batches[b],
                                    f->path[0], f->path[1], f->path[2], f->path[3], f->path[4],
                                    NULL};
        char *out = run_ok(f, args);
        if (first == NULL) {
            first = out;
            continue;
        }
        if (strcmp(out, first) != 0)
            fail_msg("--batch %s printed\n%s\nbut --batch 1 printed\n%s", batches[b], out, first);
        test_free(out);
    }
    const int idx[] = {0, 1, 2, 3, 4};
    check_json_output(f, first, idx, 5, 3);
    test_free(first);
}

static void paths_from_stdin(void **state)
{
    fixture *f = *state;
    char list[TCT_PATH_MAX];
    tct_join(list, sizeof list, f->dir, "list.txt");
    FILE *fp = fopen(list, "w");
    assert_non_null(fp);
    /* a blank line is skipped; a CRLF line ending is not part of the name */
    fprintf(fp, "%s\n\n%s\r\n%s\n", f->path[1], f->path[4], f->path[2]);
    fclose(fp);
    const char *const args[] = {"predict", "--json", "-k", "1", "-m", f->model, f->path[0], "-",
                                f->path[3], NULL};
    tct_cli_result r;
    run_with_stdin(f->dir, args, list, &r);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("exit %d, stderr \"%.400s\"", r.status, r.err);
    const int idx[] = {0, 1, 4, 2, 3};
    check_json_output(f, r.out, idx, 5, 1);
    tct_cli_free(&r);
}

static void bad_images_among_good_ones(void **state)
{
    fixture *f = *state;
    char missing[TCT_PATH_MAX];
    char text[TCT_PATH_MAX];
    snprintf(text, sizeof text, "%s", tct_source_path(MODEL_DIR "hostile_text.png"));
    tct_join(missing, sizeof missing, f->dir, "missing.png");
    for (int batch = 1; batch <= 16; batch += 15) {
        const char *const args[] = {"predict", "--json", "-m", f->model, "--batch",
                                    batch == 1 ? "1" : "16", f->path[0], missing, f->path[1],
                                    text, f->path[2], NULL};
        tct_cli_result r;
        tct_cli_run(f->dir, args, &r);
        assert_int_equal(r.status, 2);
        /* two lines on stderr, one per bad file, in order */
        char *nl = strchr(r.err, '\n');
        if (nl == NULL || strncmp(r.err, "tinycnn: ", 9) != 0 || !strstr(r.err, missing) ||
            strstr(r.err, missing) > nl || !tct_is_one_line(nl + 1) || !strstr(nl + 1, text))
            fail_msg("stderr should be one line per bad image: \"%.600s\"", r.err);
        const int idx[] = {0, 1, 2};
        check_json_output(f, r.out, idx, 3, 3);
        tct_cli_free(&r);
    }
}

static void raw_scores_are_labelled_as_such(void **state)
{
    fixture *f = *state;
    const char *const args[] = {"predict", "-m", f->scores_model, f->path[1], NULL};
    char *out = run_ok(f, args);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    if (!strstr(out, "NOT probabilities"))
        fail_msg("header does not say the outputs are not probabilities: \"%s\"", out);
    test_free(out);
    /* the values are the logits: 0.8, 3.2, 0 for mid.png; labels are the indices */
    const char *const json[] = {"predict", "--json", "-m", f->scores_model, f->path[1], NULL};
    out = run_ok(f, json);
    *strchr(out, '\n') = '\0';
    check_json_line(out, f->path[1], &samples[1], 3, false);
    test_free(out);
}

static void help_and_usage_errors(void **state)
{
    fixture *f = *state;
    const char *const help[] = {"predict", "--help", NULL};
    char *out = run_ok(f, help);
    if (!strstr(out, "usage") || !strstr(out, "--top") || !strstr(out, "--json") ||
        !strstr(out, "--batch"))
        fail_msg("predict --help: \"%.400s\"", out);
    test_free(out);
    const char *const bad[][8] = {
        {"predict", "-m", f->model, f->path[0], "--top", "0", NULL},
        {"predict", "-m", f->model, f->path[0], "--top", "-3", NULL},
        {"predict", "-m", f->model, f->path[0], "--top", "two", NULL},
        {"predict", "-m", f->model, f->path[0], "--top", "", NULL},
        {"predict", "-m", f->model, f->path[0], "--top", "5x", NULL},
        {"predict", "-m", f->model, f->path[0], "--top", NULL},
        {"predict", "-m", f->model, f->path[0], "--batch", "0", NULL},
        {"predict", "-m", f->model, f->path[0], "--wat", NULL},
        {"predict", "-m", f->model, NULL},
        {"predict", f->path[0], NULL},
        {"predict", "-m", tct_source_path("models/examples/dense_relu.json"), f->path[0], NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tct_cli_result r;
        tct_cli_run(f->dir, bad[i], &r);
        tct_cli_expect_failure(&r, 2, NULL);
        tct_cli_free(&r);
    }
}

#define WITH_FILES(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_FILES(text_table),
        WITH_FILES(json_lines),
        WITH_FILES(json_escapes_file_names),
        WITH_FILES(batch_size_does_not_change_results),
        WITH_FILES(paths_from_stdin),
        WITH_FILES(bad_images_among_good_ones),
        WITH_FILES(raw_scores_are_labelled_as_such),
        WITH_FILES(help_and_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
