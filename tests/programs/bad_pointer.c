// Passes pointers the kernel must refuse with EFAULT, and reports what came back.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

// Every call below hands the kernel a pointer that is bad on purpose; GCC sees some of them
// and warns, which is the point of the program, not a mistake in it.
#pragma GCC diagnostic ignored "-Wstringop-overread"
#pragma GCC diagnostic ignored "-Wstringop-overflow"

static void Report(const char* what, long r) {
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

int main(void) {
    Report("write from unmapped", write(1, (const void*)1, 10));
    Report("write from kernel half", write(1, (const void*)0xffffffff80006000ul, 16));
    Report("read into text", read(0, (void*)main, 1));
    struct iovec iov[2] = {{(void*)"ok", 2}, {(void*)16, 4}};
    Report("writev with a bad iovec", writev(1, iov + 1, 1));
    Report("open of unmapped path", open((const char*)8, O_RDONLY));
    Report("fstat into unmapped", fstat(1, (struct stat*)8));
    fflush(stdout);
    return 0;
}
