NODES = []
