print("pigeonhole")
