/* txpiped.c: the transaction-screening daemon. */
int main(void)
{
	return 0;
}
