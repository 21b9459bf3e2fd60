#include <stdio.h>

int main(void) {
    puts("hello from an image built by rules_img");
    return 0;
}
