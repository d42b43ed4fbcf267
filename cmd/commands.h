/* Entry points of the payq subcommands, dispatched from main(). */
#ifndef PAYQ_CMD_COMMANDS_H
#define PAYQ_CMD_COMMANDS_H

#include "cmd/cli.h"

int cmd_approve(struct cli *cli, int argc, char **argv);
int cmd_balance(struct cli *cli, int argc, char **argv);
int cmd_callbacks(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_resolve(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_retry(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_work(struct cli *cli, int argc, char **argv);

#endif
