"""streamlearn.stream"""
