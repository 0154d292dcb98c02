"""streamlearn.cluster"""
