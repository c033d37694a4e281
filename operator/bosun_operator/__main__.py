from bosun_operator.cli import main

main()
