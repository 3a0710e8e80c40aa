from kesheng.cli import main

main()
