"""streamlearn.drift"""
