/*
 * gen_fees: writes a synthetic CSV of school-fee collections (pay),
 * payouts (deposit) or both (mixed) to stdout, for the import benchmark
 * (bench/import.sh), the example files (examples/) and tests.
 *
 *   gen_fees [--kind pay|deposit|mixed] [--rows N] [--seed S] [--start N]
 *
 * The output is deterministic: the same arguments give the same bytes on
 * every machine, because the only randomness is a self-contained
 * xorshift64* generator driven by integer arithmetic. Each row draws from
 * its own generator, seeded from the seed and the row's reference number
 * only; two files made with the same seed and kind but overlapping
 * --start ranges therefore hold identical rows for the references they
 * share, which is what a duplicate-import test wants.
 *
 * Every row is valid input for payq import: phones are MTN (078, 079) or
 * Airtel (072, 073) mobiles in the written forms payq accepts, amounts
 * are whole francs in multiples of 500, references are unique within a
 * kind and never shared between kinds (FEE- for pay, OUT- for deposit).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 64 /* sysexits EX_USAGE, as payq uses */

#define ROWS_DEFAULT 1000
#define ROWS_MAX 100000000L   /* more than any benchmark needs */
#define START_MAX 1000000000L /* keeps start + rows within a long */
#define LINE_SIZE 1024        /* far above the longest row the tables make */
#define STDOUT_BUFFER_SIZE (4 * 1024 * 1024)

/* One in DEPOSIT_SHARE rows of a mixed file is a payout. */
#define DEPOSIT_SHARE 10

enum kind {
    KIND_PAY,
    KIND_DEPOSIT,
    KIND_MIXED,
};

struct options {
    enum kind kind;
    long rows;  /* rows after the header */
    long seed;  /* any value >= 0 */
    long start; /* reference number of the first row */
};

/* One output line being built; only complete lines reach stdout. */
struct line {
    char buf[LINE_SIZE];
    size_t len;
    bool overflow; /* something did not fit: the line is unusable */
};

/* A school and the classes it teaches. */
struct school {
    const char *name;
    const char *code; /* prefix of its student ids */
    bool primary;     /* teaches P1..P6 */
    bool secondary;   /* teaches S1..S6 */
};

static const char USAGE[] =
    "usage: gen_fees [--kind pay|deposit|mixed] [--rows N] [--seed S]\n"
    "                [--start N]\n"
    "  --kind   pay (default), deposit, or mixed (a kind column first)\n"
    "  --rows   data rows after the header, 0..100000000 (default 1000)\n"
    "  --seed   0 or more (default 1); same seed, same bytes\n"
    "  --start  reference number of the first row (default 1)\n";

static const char PAY_HEADER[] = "reference,phone,amount,student_id,"
                                 "student_name,school,class,term,"
                                 "parent_name\n";
static const char DEPOSIT_HEADER[] = "reference,mobilephone,amount,"
                                     "withdrawcharge,reason,"
                                     "deposit_ref_name,school\n";
/* The pay columns, then the deposit-only ones; each row fills its own. */
static const char MIXED_HEADER[] = "kind,reference,phone,amount,"
                                   "student_id,student_name,school,class,"
                                   "term,parent_name,withdrawcharge,"
                                   "reason,deposit_ref_name\n";

static const struct school SCHOOLS[] = {
    { "Groupe Scolaire Kimironko II", "GSK", true, true },
    { "Ecole Primaire Nyamirambo", "EPN", true, false },
    { "G.S. Saint Joseph, Kabgayi", "GSJ", true, true },
    { "Lycée de Rusizi", "LYR", false, true },
    { "Collège de l'Espérance, Huye", "CEH", false, true },
    { "Ecole Secondaire Musanze", "ESM", false, true },
    { "Groupe Scolaire Gahini, Kayonza", "GSG", true, true },
    { "Kicukiro Hill Academy", "KHA", true, true },
};

/* Kinyarwanda, English and French given names, as parents choose them. */
static const char *const GIVEN_NAMES[] = {
    "Mugisha",   "Ishimwe",      "Uwase",       "Keza",          "Iradukunda",
    "Ineza",     "Shema",        "Teta",        "Mutesi",        "Cyusa",
    "Gisa",      "Umutoni",      "Niyonkuru",   "Gatete",        "Isaro",
    "Eric",      "Grace",        "Patrick",     "Divine",        "Gloria",
    "Kevin",     "Diane",        "Emmanuel",    "Esther",        "Samuel",
    "Aimée",     "Clémentine",   "Léonce",      "Thérèse",       "Solange",
    "Fabrice",   "Jean d'Amour", "Jean-Claude", "Marie-Chantal", "Benoît",
    "Théoneste",
};

/* ASCII only: the FAMILY-first form upper-cases them byte by byte. */
static const char *const FAMILY_NAMES[] = {
    "Uwimana",      "Habimana",    "Nshimiyimana",  "Mukamana",   "Niyonsaba",
    "Hakizimana",   "Uwamahoro",   "Bizimana",      "Ndayisaba",  "Mukeshimana",
    "Twagiramungu", "Nsengiyumva", "Ingabire",      "Kayitesi",   "Munyaneza",
    "Nkurunziza",   "Uwera",       "Rukundo",       "Byiringiro", "Niyitegeka",
    "Mugabo",       "Kamanzi",     "Nyirahabimana", "Ntwari",
};

static const char *const REASONS[] = {
    "Bursary refund",          "Overpayment refund",      "Staff allowance",
    "Transport allowance",     "Exam fee refund",         "Sports trip refund",
    "Uniform refund, 2026-T1", "Teachers' welfare bonus",
};

/* The third digit of 07X: MTN's 078 and 079, Airtel's 072 and 073. */
static const char PREFIX_DIGITS[] = "8888899922233";

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* xorshift64* (Marsaglia's xorshift, Vigna's multiplier). */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform enough in [0, n) for n far below 2^32; uses the high bits. */
static unsigned rng_below(uint64_t *state, unsigned n)
{
    return (unsigned)((rng_next(state) >> 32) % n);
}

/* True with the given chance in percent. */
static bool rng_percent(uint64_t *state, unsigned percent)
{
    return rng_below(state, 100) < percent;
}

/* splitmix64's finaliser: scatters nearby inputs over all 64 bits. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/*
 * The generator state of row number n in a file of the given kind; the
 * kind is mixed in so that a pay and a deposit file with one seed do not
 * share phones and names row by row. xorshift must not start at 0.
 */
static uint64_t rng_for_row(long seed, enum kind kind, long n)
{
    uint64_t s = mix64((uint64_t)seed * 4 + (uint64_t)kind +
                       UINT64_C(0x9E3779B97F4A7C15));
    uint64_t state = mix64(s ^ ((uint64_t)n * UINT64_C(0xD1B54A32D192ED03)));

    return state != 0 ? state : UINT64_C(0x853C49E6748FEA9B);
}

static void put_bytes(struct line *l, const char *s, size_t n)
{
    if (n > sizeof(l->buf) - l->len) {
        l->overflow = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put_bytes(l, s, strlen(s));
}

static void put_char(struct line *l, char c)
{
    put_bytes(l, &c, 1);
}

/* Writes v in decimal, left-padded with zeros to at least width digits. */
static void put_uint(struct line *l, unsigned long v, int width)
{
    char digits[24];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < (int)sizeof(digits));
    while (n < width && n < (int)sizeof(digits))
        digits[n++] = '0';
    while (n > 0)
        put_char(l, digits[--n]);
}

/* Writes v with ',' between groups of three digits: 15,000. */
static void put_grouped(struct line *l, unsigned long v)
{
    if (v < 1000) {
        put_uint(l, v, 0);
        return;
    }
    put_grouped(l, v / 1000);
    put_char(l, ',');
    put_uint(l, v % 1000, 3);
}

/* Writes n bytes of s as one CSV field, quoted only when RFC 4180 asks. */
static void put_field_n(struct line *l, const char *s, size_t n)
{
    size_t i;

    if (memchr(s, ',', n) == NULL && memchr(s, '"', n) == NULL &&
        memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL) {
        put_bytes(l, s, n);
        return;
    }
    put_char(l, '"');
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            put_char(l, '"');
        put_char(l, s[i]);
    }
    put_char(l, '"');
}

static void put_field(struct line *l, const char *s)
{
    put_field_n(l, s, strlen(s));
}

/* Ends a field; the last field of a row ends the line instead. */
static void put_sep(struct line *l)
{
    put_char(l, ',');
}

/* 2026-T1 mostly; some parents pay later terms ahead. */
static unsigned pick_term(uint64_t *rng)
{
    unsigned roll = rng_below(rng, 100);

    return roll < 70 ? 1 : roll < 90 ? 2 : 3;
}

/*
 * Pay references name the term, FEE-2026T1-0000001; payouts have no term,
 * OUT-2026-0000001. The number is the row's, so references never repeat.
 */
static void put_reference(struct line *l, unsigned term, long n)
{
    if (term > 0) {
        put_str(l, "FEE-2026T");
        put_uint(l, term, 0);
    } else {
        put_str(l, "OUT-2026");
    }
    put_char(l, '-');
    put_uint(l, (unsigned long)n, 7);
}

/* 0788123456 mostly, else +250 788 123 456 or 250788123456. */
static void put_phone(struct line *l, uint64_t *rng)
{
    char prefix = PREFIX_DIGITS[rng_below(rng, sizeof(PREFIX_DIGITS) - 1)];
    unsigned rest = rng_below(rng, 10000000);
    unsigned form = rng_below(rng, 100);

    if (form < 80) {
        put_str(l, "07");
        put_char(l, prefix);
        put_uint(l, rest, 7);
    } else if (form < 90) {
        put_str(l, "+250 7");
        put_char(l, prefix);
        put_uint(l, rest / 1000000, 0);
        put_char(l, ' ');
        put_uint(l, rest / 1000 % 1000, 3);
        put_char(l, ' ');
        put_uint(l, rest % 1000, 3);
    } else {
        put_str(l, "2507");
        put_char(l, prefix);
        put_uint(l, rest, 7);
    }
}

/* A multiple of 500 in [min, max]; a fifth written "15,000", quoted. */
static void put_amount(struct line *l, uint64_t *rng, unsigned min,
                       unsigned max)
{
    unsigned steps = (max - min) / 500 + 1;
    unsigned long v = 500UL * (min / 500 + rng_below(rng, steps));

    if (rng_percent(rng, 20)) {
        put_char(l, '"');
        put_grouped(l, v);
        put_char(l, '"');
    } else {
        put_uint(l, v, 0);
    }
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* "Eric Uwimana" mostly; school registers also write "UWIMANA Eric". */
static void put_person(struct line *l, uint64_t *rng)
{
    const char *given = GIVEN_NAMES[rng_below(rng, COUNT(GIVEN_NAMES))];
    const char *family = FAMILY_NAMES[rng_below(rng, COUNT(FAMILY_NAMES))];
    struct line name = { .len = 0, .overflow = false };
    const char *p;

    if (rng_percent(rng, 90)) {
        put_str(&name, given);
        put_char(&name, ' ');
        put_str(&name, family);
    } else {
        for (p = family; *p != '\0'; p++)
            put_char(&name, ascii_upper(*p));
        put_char(&name, ' ');
        put_str(&name, given);
    }
    put_field_n(l, name.buf, name.len);
    l->overflow |= name.overflow;
}

static const struct school *pick_school(uint64_t *rng)
{
    return &SCHOOLS[rng_below(rng, COUNT(SCHOOLS))];
}

/* Whether the pupil is in secondary (S1..S6) rather than primary. */
static bool pick_secondary(uint64_t *rng, const struct school *s)
{
    if (s->primary && s->secondary)
        return rng_percent(rng, 50);
    return s->secondary;
}

/*
 * The pay columns from amount on. Secondary fees run higher, since many
 * pupils board.
 */
static void put_pay_rest(struct line *l, uint64_t *rng, unsigned term)
{
    const struct school *school = pick_school(rng);
    bool secondary = pick_secondary(rng, school);
    unsigned year = 1 + rng_below(rng, 6);

    if (secondary)
        put_amount(l, rng, 40000, 450000);
    else
        put_amount(l, rng, 5000, 150000);
    put_sep(l);
    put_str(l, school->code);
    put_char(l, '-');
    put_uint(l, rng_below(rng, 100000), 5);
    put_sep(l);
    put_person(l, rng);
    put_sep(l);
    put_field(l, school->name);
    put_sep(l);
    put_char(l, secondary ? 'S' : 'P');
    put_uint(l, year, 0);
    put_sep(l);
    put_str(l, "2026-T");
    put_uint(l, term, 0);
    put_sep(l);
    put_person(l, rng);
}

/* The cash-out fee as files write it: empty or 0 for none, or a fee. */
static void put_charge(struct line *l, uint64_t *rng)
{
    static const char *const CHARGES[] = { "", "0", "100", "250", "500" };

    put_str(l, CHARGES[rng_below(rng, COUNT(CHARGES))]);
}

/* The deposit columns from amount to reason and name, then school. */
static void put_deposit_rest(struct line *l, uint64_t *rng)
{
    put_amount(l, rng, 5000, 300000);
    put_sep(l);
    put_charge(l, rng);
    put_sep(l);
    put_field(l, REASONS[rng_below(rng, COUNT(REASONS))]);
    put_sep(l);
    put_person(l, rng);
    put_sep(l);
    put_field(l, pick_school(rng)->name);
}

static void put_pay_row(struct line *l, uint64_t *rng, long n)
{
    unsigned term = pick_term(rng);

    put_reference(l, term, n);
    put_sep(l);
    put_phone(l, rng);
    put_sep(l);
    put_pay_rest(l, rng, term);
}

static void put_deposit_row(struct line *l, uint64_t *rng, long n)
{
    put_reference(l, 0, n);
    put_sep(l);
    put_phone(l, rng);
    put_sep(l);
    put_deposit_rest(l, rng);
}

/*
 * A mixed row: the pay layout plus withdrawcharge, reason and
 * deposit_ref_name. A deposit leaves the student columns empty and names
 * its school in the school column.
 */
static void put_mixed_row(struct line *l, uint64_t *rng, long n)
{
    if (rng_below(rng, DEPOSIT_SHARE) != 0) {
        put_str(l, "pay,");
        put_pay_row(l, rng, n);
        put_str(l, ",,,");
        return;
    }
    put_str(l, "deposit,");
    put_reference(l, 0, n);
    put_sep(l);
    put_phone(l, rng);
    put_sep(l);
    put_amount(l, rng, 5000, 300000);
    put_str(l, ",,,");
    put_field(l, pick_school(rng)->name);
    put_str(l, ",,,,");
    put_charge(l, rng);
    put_sep(l);
    put_field(l, REASONS[rng_below(rng, COUNT(REASONS))]);
    put_sep(l);
    put_person(l, rng);
}

/* Builds row n of the file in l; false if it did not fit. */
static bool build_row(const struct options *opt, long n, struct line *l)
{
    uint64_t rng = rng_for_row(opt->seed, opt->kind, n);

    l->len = 0;
    l->overflow = false;
    switch (opt->kind) {
    case KIND_PAY:
        put_pay_row(l, &rng, n);
        break;
    case KIND_DEPOSIT:
        put_deposit_row(l, &rng, n);
        break;
    case KIND_MIXED:
        put_mixed_row(l, &rng, n);
        break;
    }
    put_char(l, '\n');
    return !l->overflow;
}

static const char *header_of(enum kind kind)
{
    switch (kind) {
    case KIND_PAY:
        return PAY_HEADER;
    case KIND_DEPOSIT:
        return DEPOSIT_HEADER;
    case KIND_MIXED:
        break;
    }
    return MIXED_HEADER;
}

/* Says what is wrong with the command line; returns the usage status. */
static int usage_error(const char *problem, const char *option,
                       const char *value)
{
    fprintf(stderr, "gen_fees: %s %s%s%s\n", problem, option,
            value != NULL ? " " : "", value != NULL ? value : "");
    fprintf(stderr, "%s", USAGE);
    return EXIT_USAGE;
}

/* Parses a whole decimal number in [min, max] with strtol. */
static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_kind(const char *text, enum kind *out)
{
    if (strcmp(text, "pay") == 0)
        *out = KIND_PAY;
    else if (strcmp(text, "deposit") == 0)
        *out = KIND_DEPOSIT;
    else if (strcmp(text, "mixed") == 0)
        *out = KIND_MIXED;
    else
        return false;
    return true;
}

/* Fills opt from argv; returns -1 to go on, or the status to exit with. */
static int parse_args(int argc, char **argv, struct options *opt)
{
    int i;

    for (i = 1; i < argc; i += 2) {
        const char *name = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;

        if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
            printf("%s", USAGE);
            return EXIT_SUCCESS;
        }
        if (val == NULL)
            return usage_error("missing value after", name, NULL);
        if (strcmp(name, "--kind") == 0)
            ok = parse_kind(val, &opt->kind);
        else if (strcmp(name, "--rows") == 0)
            ok = parse_long(val, 0, ROWS_MAX, &opt->rows);
        else if (strcmp(name, "--seed") == 0)
            ok = parse_long(val, 0, LONG_MAX, &opt->seed);
        else if (strcmp(name, "--start") == 0)
            ok = parse_long(val, 1, START_MAX, &opt->start);
        else
            return usage_error("unknown option", name, NULL);
        if (!ok)
            return usage_error("invalid value for", name, val);
    }
    return -1;
}

/* Writes the header and the rows; false after saying what failed. */
static bool write_rows(const struct options *opt)
{
    struct line line;
    long n;

    if (fputs(header_of(opt->kind), stdout) == EOF)
        goto write_failed;
    for (n = opt->start; n < opt->start + opt->rows; n++) {
        if (!build_row(opt, n, &line)) {
            fprintf(stderr, "gen_fees: row %ld longer than %d bytes\n", n,
                    LINE_SIZE);
            return false;
        }
        if (fwrite(line.buf, 1, line.len, stdout) != line.len)
            goto write_failed;
    }
    if (fflush(stdout) != 0)
        goto write_failed;
    return true;

write_failed:
    fprintf(stderr, "gen_fees: cannot write to stdout: %s\n", strerror(errno));
    return false;
}

int main(int argc, char **argv)
{
    struct options opt = {
        .kind = KIND_PAY,
        .rows = ROWS_DEFAULT,
        .seed = 1,
        .start = 1,
    };
    int rc;

    rc = parse_args(argc, argv, &opt);
    if (rc >= 0)
        return rc;

    /* Rows are small; a big buffer makes a million of them one second. */
    if (setvbuf(stdout, NULL, _IOFBF, STDOUT_BUFFER_SIZE) != 0) {
        fprintf(stderr, "gen_fees: cannot buffer stdout\n");
        return EXIT_FAILURE;
    }
    return write_rows(&opt) ? EXIT_SUCCESS : EXIT_FAILURE;
}
