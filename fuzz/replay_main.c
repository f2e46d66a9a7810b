/* Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput over every file named on the
 * command line and over every regular file of every directory named, so that `make check` covers
 * each harness's corpus with any compiler (under gcc, and under ASan+UBSan with SANITIZE=1).
 * Prints "replayed N inputs" and exits 0; a harness that finds a bug aborts. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_INPUT (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || len > (long)REPLAY_MAX_INPUT ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -EFBIG;
	}
	/* An exact-size copy, so that ASan sees any read past the input's end. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), r = 0;

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			r = replay_file(path);
			if (r < 0)
				fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
			else
				++*count;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	struct stat st;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			r = replay_dir(argv[i], &count);
		} else {
			r = replay_file(argv[i]);
			count += r == 0;
		}
		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
