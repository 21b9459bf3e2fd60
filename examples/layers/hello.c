#include <stdio.h>

int main(void) {
    FILE *data = fopen("layers/files/a.txt", "r");
    puts("hello from cc_binary");
    if (data) {
        fclose(data);
    }
    return 0;
}
