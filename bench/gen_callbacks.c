/*
 * payq-gen-callbacks: prints one authenticated pay callback per line, for
 * the callback benchmark's wrk script: "PATH<TAB>BODY", for transaction
 * ids PREFIX-1-1 to PREFIX-N-1, under the secret PAYQ_CALLBACK_SECRET.
 *
 * Usage: PAYQ_CALLBACK_SECRET=... payq-gen-callbacks PREFIX N
 */
#include <stdio.h>
#include <stdlib.h>

#include "callback/token.h"

int main(int argc, char **argv)
{
    const char *secret = getenv("PAYQ_CALLBACK_SECRET");
    char token[CALLBACK_TOKEN_LEN + 1];
    char txn[96];
    long long n;
    long long i;

    if (argc != 3 || secret == NULL || (n = strtoll(argv[2], NULL, 10)) < 1) {
        fputs("usage: PAYQ_CALLBACK_SECRET=... payq-gen-callbacks PREFIX N\n",
              stderr);
        return 64;
    }
    for (i = 1; i <= n; i++) {
        snprintf(txn, sizeof(txn), "%.32s-%lld-1", argv[1], i);
        if (callback_token_pay(secret, txn, token) != PAYQ_OK) {
            fputs("payq-gen-callbacks: the secret is too short\n", stderr);
            return 78;
        }
        printf("/cb/%s/%s\t{\"status\":\"Successfull\","
               "\"requesttransactionid\":\"%s\",\"transactionid\":"
               "\"%lld\",\"responsecode\":\"01\",\"statusdesc\":"
               "\"Successfully Processed Transaction\",\"referenceno\":"
               "\"31%07lld\"}\n",
               txn, token, txn, 6000000000LL + i, i);
    }
    return 0;
}
