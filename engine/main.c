/* main.c - tsmd entry point (being written). */
int main(void)
{
    return 0;
}
