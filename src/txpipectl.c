/* txpipectl.c: the operator and producer tool. */
int main(void)
{
	return 0;
}
