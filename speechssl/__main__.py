from speechssl.cli import main

main()
