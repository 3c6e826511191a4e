/*
 * classify.c - embedding tinycnn in a C program: load a model, decode images, turn each into the
 * model's input tensor exactly as the model's "preprocess" says, run it and print the top 3
 * classes. Uses only the public header, tinycnn.h.
 *
 *     classify MODEL IMAGE...
 *
 * Exit status: 0 if every image was classified, 1 if the model or any image failed, 2 on bad
 * usage. Errors go to stderr, one line each.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tinycnn.h"

#define TOP 3

/* Prints a library error as one line: "classify: file: place: message". */
static void report(const tc_error *err)
{
    char line[1024];
    fprintf(stderr, "classify: %s\n", tc_error_format(err, line, sizeof line));
}

/* Decodes one image, preprocesses it into `input` and runs the model; prints the top classes. */
static int classify(const tc_model *model, tc_workspace *ws, float *input, const char *path)
{
    tc_image img;
    tc_error err;
    if (tc_image_load(path, 0, &img, &err) != TC_OK) { /* refuses broken and huge images */
        report(&err);
        return 1;
    }
    /* channels, alpha, resize, invert, scale, mean/std: all from the model's "preprocess" */
    tc_status st = tc_image_to_tensor(&img, tc_model_preprocess(model),
                                      tc_model_input_shape(model), input, &err);
    tc_image_free(&img); /* the tensor is all we need now */
    if (st == TC_OK)
        st = tc_model_run(model, ws, input, 1, &err);
    if (st != TC_OK) {
        report(&err);
        return 1;
    }
    const float *scores = tc_workspace_output(ws, 0); /* borrowed until the next run */
    int n = tc_model_num_classes(model);
    printf("%s\n", path);
    /* top 3 by repeated selection: fine for a handful of classes */
    int shown[TOP];
    for (int k = 0; k < TOP && k < n; k++) {
        int best = -1;
        for (int c = 0; c < n; c++) {
            int taken = 0;
            for (int j = 0; j < k; j++)
                taken |= shown[j] == c;
            if (!taken && (best < 0 || scores[c] > scores[best]))
                best = c;
        }
        shown[k] = best;
        const char *label = tc_model_label(model, best); /* NULL if the model has no labels */
        if (label != NULL)
            printf("  %-20s %.4f\n", label, (double)scores[best]);
        else
            printf("  class %-14d %.4f\n", best, (double)scores[best]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: classify MODEL IMAGE...\n");
        return 2;
    }
    tc_error err;
    tc_model *model = NULL;
    tc_workspace *ws = NULL;
    if (tc_model_load(argv[1], NULL, &model, &err) != TC_OK ||
        tc_workspace_create(model, 1, &ws, &err) != TC_OK) { /* room for one image at a time */
        report(&err);
        tc_model_free(model);
        return 1;
    }
    float *input = malloc(tc_model_input_numel(model) * sizeof *input);
    if (input == NULL) {
        fprintf(stderr, "classify: out of memory\n");
        tc_workspace_free(ws);
        tc_model_free(model);
        return 1;
    }
    if (!tc_model_output_is_probability(model, 0))
        printf("note: %s does not end in softmax; these are raw scores\n", argv[1]);
    int status = 0;
    for (int i = 2; i < argc; i++)
        status |= classify(model, ws, input, argv[i]); /* a bad image does not stop the rest */
    free(input);
    tc_workspace_free(ws);
    tc_model_free(model);
    return status;
}
