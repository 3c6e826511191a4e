/*
 * test_bad_models.c - every malformed model in tests/fixtures/bad_models.txt is refused, by the
 * library and by `tinycnn summary`, with a one-line message that names the problem.
 *
 * bad_models.txt: one fixture per line, "FILE<TAB>SUBSTRING" ('#' lines and blank lines are
 * skipped). SUBSTRING must appear in the message after the file name (so a fixture's own name
 * never satisfies the check). Each test goes through all fixtures and reports every failure
 * before failing.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent */
#include "tct_cli.h" /* first: it includes system headers, then tc_test.h */

#define MIN_FIXTURES 40
#define MAX_FIXTURES 256
#define FIXTURE_DIR "tests/fixtures"

typedef struct fixture {
    char file[96];     /* name inside tests/fixtures */
    char needle[96];   /* what the message must contain */
} fixture;

typedef struct fixture_list {
    int n;
    fixture items[MAX_FIXTURES];
} fixture_list;

/* Reads bad_models.txt; fails the test on a malformed line. */
static void read_list(fixture_list *list)
{
    const char *path = tct_source_path(FIXTURE_DIR "/bad_models.txt");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char line[256];
    int line_no = 0;
    list->n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line_no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        fixture *fx = &list->items[list->n];
        if (tab == NULL || tab == line || tab[1] == '\0' || list->n == MAX_FIXTURES ||
            (size_t)(tab - line) >= sizeof fx->file || strlen(tab + 1) >= sizeof fx->needle) {
            fclose(f);
            fail_msg("bad_models.txt:%d: expected FILE<TAB>SUBSTRING, got \"%s\"", line_no, line);
        }
        *tab = '\0';
        memcpy(fx->file, line, strlen(line) + 1); /* both lengths were checked above */
        memcpy(fx->needle, tab + 1, strlen(tab + 1) + 1);
        list->n++;
    }
    fclose(f);
}

static const char *fixture_path(const fixture *fx, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/%s", TC_SOURCE_DIR, FIXTURE_DIR, fx->file);
    return buf;
}

/* The part of msg after the first mention of file, or NULL if file is not named. */
static const char *after_file(const char *msg, const char *file)
{
    const char *at = strstr(msg, file);
    return at == NULL ? NULL : at + strlen(file);
}

/* Library: load fails, *out becomes NULL, the one-line message names the file and the problem.
 * Returns true if all holds; prints what went wrong otherwise. */
static bool library_refuses(const fixture *fx)
{
    char path[TCT_PATH_MAX];
    fixture_path(fx, path, sizeof path);
    tc_model *sentinel = (tc_model *)&sentinel; /* must be replaced by NULL */
    tc_model *model = sentinel;
    tc_error err;
    tc_status st = tc_model_load(path, NULL, &model, &err);
    if (st == TC_OK) {
        tc_model_free(model);
        print_error("%s: loaded, expected an error containing \"%s\"\n", fx->file, fx->needle);
        return false;
    }
    char line[1024];
    tc_error_format(&err, line, sizeof line);
    const char *rest = after_file(line, path);
    const char *problem = NULL;
    if (model != NULL)
        problem = "*out was not set to NULL";
    else if (err.code != st)
        problem = "the returned status differs from err.code";
    else if (st == TC_ERR_NOMEM || st == TC_ERR_INTERNAL || st == TC_ERR_ARGUMENT)
        problem = "a bad file must not be reported as NOMEM/INTERNAL/ARGUMENT";
    else if (strchr(line, '\n') != NULL || strchr(line, '\r') != NULL)
        problem = "the message is not one line";
    else if (rest == NULL)
        problem = "the message does not name the file";
    else if (strstr(rest, fx->needle) == NULL)
        problem = "the message does not contain the expected text";
    if (problem == NULL)
        return true;
    print_error("%s: %s (expected \"%s\"): %s: %s\n", fx->file, problem, fx->needle,
                tc_status_str(st), line);
    return false;
}

/* CLI: `tinycnn summary -m FILE` exits 2, prints nothing on stdout and one stderr line
 * "tinycnn: FILE...SUBSTRING...". */
static bool cli_refuses(const fixture *fx, const char *dir)
{
    char path[TCT_PATH_MAX];
    fixture_path(fx, path, sizeof path);
    const char *args[] = {"summary", "-m", path, NULL};
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    const char *rest = after_file(r.err, path);
    const char *problem = NULL;
    if (r.status != 2)
        problem = "exit status is not 2";
    else if (r.out[0] != '\0')
        problem = "stdout is not empty";
    else if (!tct_is_one_line(r.err) || strncmp(r.err, "tinycnn: ", 9) != 0)
        problem = "stderr is not one line \"tinycnn: ...\"";
    else if (rest == NULL)
        problem = "stderr does not name the file";
    else if (strstr(rest, fx->needle) == NULL)
        problem = "stderr does not contain the expected text";
    if (problem != NULL)
        print_error("%s: %s (expected \"%s\"): exit %d, stdout \"%.200s\", stderr \"%.400s\"\n",
                    fx->file, problem, fx->needle, r.status, r.out, r.err);
    tct_cli_free(&r);
    return problem == NULL;
}

static void library_refuses_every_fixture(void **state)
{
    (void)state;
    static fixture_list list;
    read_list(&list);
    int failed = 0;
    for (int i = 0; i < list.n; i++)
        failed += !library_refuses(&list.items[i]);
    if (failed > 0)
        fail_msg("%d of %d bad models were not refused as expected by tc_model_load", failed,
                 list.n);
}

static void cli_refuses_every_fixture(void **state)
{
    (void)state;
    static fixture_list list;
    read_list(&list);
    char dir[TCT_PATH_MAX];
    tct_tmpdir_make(dir, sizeof dir);
    int failed = 0;
    for (int i = 0; i < list.n; i++)
        failed += !cli_refuses(&list.items[i], dir);
    tct_tmpdir_remove(dir);
    if (failed > 0)
        fail_msg("%d of %d bad models were not refused as expected by `tinycnn summary`", failed,
                 list.n);
}

/* Enough fixtures, each listed once, and every tests/fixtures/bad_*.json is listed (a fixture
 * left out of the list would silently test nothing). */
static void fixture_list_is_complete(void **state)
{
    (void)state;
    static fixture_list list;
    read_list(&list);
    if (list.n < MIN_FIXTURES)
        fail_msg("bad_models.txt lists %d fixtures, at least %d are required", list.n,
                 MIN_FIXTURES);
    int failed = 0;
    for (int i = 0; i < list.n; i++) {
        char path[TCT_PATH_MAX];
        if (!tct_file_exists(fixture_path(&list.items[i], path, sizeof path))) {
            print_error("%s is listed but does not exist\n", list.items[i].file);
            failed++;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(list.items[i].file, list.items[j].file) == 0) {
                print_error("%s is listed twice\n", list.items[i].file);
                failed++;
            }
        }
    }
    DIR *d = opendir(tct_source_path(FIXTURE_DIR));
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "bad_", 4) != 0 || len < 5 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        bool listed = false;
        for (int i = 0; i < list.n && !listed; i++)
            listed = strcmp(list.items[i].file, e->d_name) == 0;
        if (!listed) {
            print_error("%s is not listed in bad_models.txt\n", e->d_name);
            failed++;
        }
    }
    closedir(d);
    if (failed > 0)
        fail_msg("%d problems with bad_models.txt", failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_list_is_complete),
        cmocka_unit_test(library_refuses_every_fixture),
        cmocka_unit_test(cli_refuses_every_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
