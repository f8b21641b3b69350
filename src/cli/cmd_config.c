/*
 * cmd_config.c - `graviton config check FILE`: validate a configuration and
 * print the effective settings (every key) as HOCON, secrets redacted
 * unless --show-secrets (then it reads back equal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/config.h"

int cmd_config(cli_globals *g, int argc, char **argv)
{
	gv_config cfg;
	char *text = NULL;
	int i, redact = 1, rc = 0;
	const char *file = NULL;

	(void)g;
	if (cli_wants_help(argc, argv)) {
		printf("usage: graviton config check [FILE] [--show-secrets]\n\n"
		       "Validate FILE (default: --config, else the built-in defaults) and print\n"
		       "the effective configuration, every key included.  Errors name the file,\n"
		       "line, column and key; exit 78 when the file is invalid.\n\n"
		       "Secrets (the tokens; an index URL holding a password) print as a\n"
		       "comment, without their value (the URL with its password as ***).\n\n"
		       "  --show-secrets  print them (the output then reads back equal)\n");
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		cli_err("config: expected 'check' (see 'graviton config --help')");
		return EXIT_USAGE;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--redact") == 0)
			redact = 1; /* the default; kept for scripts that ask */
		else if (strcmp(argv[i], "--show-secrets") == 0)
			redact = 0;
		else if (!file)
			file = argv[i];
		else {
			cli_err("config check: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!file)
		file = g->config;
	if (gv_config_init(&cfg) < 0)
		return EXIT_SOFTWARE;
	if (file && gv_config_load_file(&cfg, file) < 0) {
		cli_err("%s", gv_error_last());
		rc = gv_error_last_errno() ? EXIT_NOINPUT : EXIT_CONFIG;
		goto out;
	}
	if (gv_config_dump(&text, &cfg, redact ? GV_CONFIG_DUMP_REDACT : 0) < 0) {
		rc = EXIT_SOFTWARE;
		goto out;
	}
	fputs(text, stdout);
	if (fflush(stdout) != 0)
		rc = EXIT_IOERR;
out:
	free(text);
	gv_config_free(&cfg);
	return rc;
}
