// Writes to an address nothing maps: Linux delivers SIGSEGV (status 139).
int main(void) {
    volatile int* p = (volatile int*)0x1000;
    *p = 1;
    return 0;
}
