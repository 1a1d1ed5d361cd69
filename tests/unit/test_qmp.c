/* The QMP protocol engine: negotiation, commands, and hostile input. */
#include <stdlib.h>
#include <string.h>

#include "vmm/qmp.h"
#include "tap.h"

static char out[65536];
static size_t out_len;
static int powerdowns;

static void capture(void *ctx, const char *data, size_t len)
{
	if (out_len + len < sizeof(out)) {
		memcpy(out + out_len, data, len);
		out_len += len;
		out[out_len] = '\0';
	}
}

static json_t *cmd_powerdown(void *opaque, json_t *args, const char **err)
{
	powerdowns++;
	return NULL;
}

static json_t *cmd_fail(void *opaque, json_t *args, const char **err)
{
	*err = "it failed";
	return NULL;
}

static const struct qmp_command cmds[] = {
	{ "system_powerdown", cmd_powerdown },
	{ "fail", cmd_fail },
	{ NULL, NULL },
};

static const char *feed(struct qmp_client *c, const char *s)
{
	out_len = 0;
	out[0] = '\0';
	CHECK_EQ(qmp_client_input(c, s, strlen(s)), 0);
	return out;
}

int main(void)
{
	struct qmp_client *c = qmp_client_new(cmds, NULL, capture, NULL);
	char *big;

	qmp_client_greet(c);
	CHECK(strstr(out, "\"QMP\"") != NULL);

	/* Commands before negotiation are refused. */
	CHECK(strstr(feed(c, "{\"execute\":\"system_powerdown\"}\n"), "CommandNotFound") != NULL);
	CHECK_EQ(powerdowns, 0);
	CHECK(strstr(feed(c, "{\"execute\":\"qmp_capabilities\",\"id\":7}"), "{\"return\":{},\"id\":7}"));
	CHECK(strstr(feed(c, "{\"execute\":\"system_powerdown\"}"), "\"return\"") != NULL);
	CHECK_EQ(powerdowns, 1);

	/* Split across reads, and two messages in one read. */
	CHECK_EQ(strlen(feed(c, "{\"execute\":\"system_po")), 0);
	CHECK(strstr(feed(c, "werdown\"}{\"execute\":\"system_powerdown\"}"), "return") != NULL);
	CHECK_EQ(powerdowns, 3);

	/* Errors: each gets a reply and the client goes on. */
	CHECK(strstr(feed(c, "{\"execute\":\"nope\",\"id\":\"x\"}"), "CommandNotFound") != NULL);
	CHECK(strstr(out, "\"id\":\"x\"") != NULL);
	CHECK(strstr(feed(c, "{\"execute\":\"fail\"}"), "it failed") != NULL);
	CHECK(strstr(feed(c, "[1,2,3]"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "{\"exec\":1}"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "{\"execute\":42}"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "{\"execute\":\"fail\",\"arguments\":[]}"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "}}}garbage\n"), "JSON parse error") != NULL);
	CHECK(strstr(feed(c, "{\"a\":1,\"a\":2}\n"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "\"\\u0000\"\n"), "GenericError") != NULL);
	CHECK(strstr(feed(c, "{\"execute\":\"system_powerdown\"}"), "return") != NULL);
	CHECK_EQ(powerdowns, 4);
	CHECK(strstr(feed(c, "{\"execute\":\"qmp_capabilities\"}"), "CommandNotFound") != NULL);

	/* A flood without an end is cut off rather than buffered forever. */
	big = malloc(70000);
	memset(big, '[', 70000);
	CHECK_EQ(qmp_client_input(c, big, 70000), -1);
	free(big);
	qmp_client_free(c);

	/* Deep nesting must not overflow the stack. */
	c = qmp_client_new(cmds, NULL, capture, NULL);
	big = malloc(60001);
	memset(big, '[', 60000);
	big[60000] = '\n';
	out_len = 0;
	qmp_client_input(c, big, 60001);
	free(big);
	qmp_client_free(c);
	return test_done();
}
