// Holds as many open files as the guest may have, says so by creating READY_FILE, then spins
// until the run's --timeout kills it. Other sessions must go on being served meanwhile.
//
//   fd_hog READY_FILE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2) {
        return 2;
    }
    int opened = 0;
    int last = -1;
    for (;;) {
        int fd = open("/bin/busybox", O_RDONLY);
        if (fd < 0) {
            break;
        }
        last = fd;
        ++opened;
    }
    close(last);  // room for the marker
    int ready = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ready < 0) {
        return 3;
    }
    close(ready);
    printf("opened %d\n", opened);
    fflush(stdout);
    for (volatile int spin = 0;; ++spin) {
    }
}
