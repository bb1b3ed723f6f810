// Built without -static: a dynamically linked program, which the VMM refuses.
#include <stdio.h>

int main(void) {
    puts("dynamic");
    return 0;
}
