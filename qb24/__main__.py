from qb24.cli import main

main()
